# Gold's managed PostgreSQL: Cloud SQL on a private IP only (no public address), TLS required,
# regional (a standby in a second zone), daily backups with point-in-time recovery. The batch pods
# reach it as the Service streamflow-gold-db, an ExternalName to the private DNS name below.

resource "google_sql_database_instance" "gold" {
  project             = var.project_id
  name                = var.instance_name
  region              = var.region
  database_version    = var.database_version
  encryption_key_name = var.kms_key_name
  deletion_protection = true

  settings {
    tier                        = var.tier
    edition                     = "ENTERPRISE"
    availability_type           = "REGIONAL"
    disk_type                   = "PD_SSD"
    disk_autoresize             = true
    deletion_protection_enabled = true
    user_labels                 = var.labels

    ip_configuration {
      ipv4_enabled    = false
      private_network = var.network
      # TLS on every connection, password authentication (no client certificates: docs/delivery.md).
      ssl_mode                                      = "ENCRYPTED_ONLY"
      enable_private_path_for_google_cloud_services = false
    }

    backup_configuration {
      enabled                        = true
      start_time                     = "01:00" # before the medallion CronJob (02:30 UTC)
      point_in_time_recovery_enabled = true
      transaction_log_retention_days = 7
      backup_retention_settings {
        retained_backups = 14
      }
    }

    maintenance_window {
      day  = 7
      hour = 5
    }

    # What the CIS benchmark asks of Cloud SQL for PostgreSQL (checkov's CKV_GCP_108 to 111, CKV2_GCP_13 and others).
    database_flags {
      name  = "log_checkpoints"
      value = "on"
    }
    database_flags {
      name  = "log_connections"
      value = "on"
    }
    database_flags {
      name  = "log_disconnections"
      value = "on"
    }
    database_flags {
      name  = "log_lock_waits"
      value = "on"
    }
    database_flags {
      name  = "log_min_messages"
      value = "error"
    }
    database_flags {
      name  = "log_temp_files"
      value = "0"
    }
    database_flags {
      name  = "log_min_duration_statement"
      value = "-1"
    }
    database_flags {
      name  = "log_min_error_statement"
      value = "error"
    }
    database_flags {
      name  = "log_statement"
      value = "ddl"
    }
    database_flags {
      name  = "log_hostname"
      value = "on"
    }
    database_flags {
      name  = "log_duration"
      value = "on"
    }
    database_flags {
      name  = "cloudsql.enable_pgaudit"
      value = "on"
    }
  }

  lifecycle {
    prevent_destroy = true
  }
}

resource "google_sql_database" "gold" {
  project  = var.project_id
  instance = google_sql_database_instance.gold.name
  name     = var.database_name
}

resource "random_password" "gold" {
  length  = 32
  special = false
}

resource "google_sql_user" "gold" {
  project  = var.project_id
  instance = google_sql_database_instance.gold.name
  name     = var.user_name
  password = random_password.gold.result
}

# streamflow-gold.postgres.storage.internal, the ExternalName of the overlay's Service
# streamflow-gold-db, resolves to the instance's private address inside the VPC.
resource "google_dns_managed_zone" "internal" {
  project     = var.project_id
  name        = "streamflow-storage-internal"
  dns_name    = "${local.zone}."
  description = "StreamFlow's private names of managed stores"
  visibility  = "private"

  private_visibility_config {
    networks {
      network_url = var.network
    }
  }
  labels = var.labels
}

resource "google_dns_record_set" "gold" {
  project      = var.project_id
  managed_zone = google_dns_managed_zone.internal.name
  name         = "${var.hostname}."
  type         = "A"
  ttl          = 300
  rrdatas      = [google_sql_database_instance.gold.private_ip_address]
}

locals {
  # The zone is the hostname less its first two labels: storage.internal for streamflow-gold.postgres.storage.internal.
  zone = join(".", slice(split(".", var.hostname), 2, length(split(".", var.hostname))))
}
