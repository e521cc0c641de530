# The checkpoint, savepoint and HA store of the Flink job: one bucket, prefixes checkpoints/,
# savepoints/ and ha/ (the s3:// URIs of the FlinkDeployment). Flink's s3:// file system reaches it
# through the S3-compatible XML API (https://storage.googleapis.com, path-style), and the pods reach
# that API on Private Google Access's private.googleapis.com range only (the NetworkPolicy
# flink-egress-object-store allows nothing else on 443).

resource "google_storage_bucket" "checkpoints" {
  project                     = var.project_id
  name                        = var.bucket_name
  location                    = var.location
  storage_class               = "STANDARD"
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = false

  # A deleted or overwritten checkpoint file stays recoverable for a week.
  versioning {
    enabled = true
  }
  soft_delete_policy {
    retention_duration_seconds = 604800
  }
  lifecycle_rule {
    condition {
      days_since_noncurrent_time = var.noncurrent_retention_days
      with_state                 = "ARCHIVED"
    }
    action {
      type = "Delete"
    }
  }

  encryption {
    default_kms_key_name = var.kms_key_name
  }

  logging {
    log_bucket        = var.access_log_bucket
    log_object_prefix = "streamflow-flink/"
  }

  labels = var.labels

  lifecycle {
    prevent_destroy = true
  }
}

# storage.googleapis.com resolves, inside the cluster's VPC, to private.googleapis.com
# (199.36.153.8/30): the one range the Flink pods' egress policy opens for the store.
resource "google_dns_managed_zone" "storage_api" {
  project     = var.project_id
  name        = "streamflow-storage-googleapis"
  dns_name    = "storage.googleapis.com."
  description = "storage.googleapis.com on Private Google Access (StreamFlow checkpoints)"
  visibility  = "private"

  private_visibility_config {
    networks {
      network_url = var.network
    }
  }
  labels = var.labels
}

resource "google_dns_record_set" "storage_api" {
  project      = var.project_id
  managed_zone = google_dns_managed_zone.storage_api.name
  name         = google_dns_managed_zone.storage_api.dns_name
  type         = "A"
  ttl          = 300
  rrdatas      = local.private_googleapis_addresses
}

locals {
  # private.googleapis.com: Google's documented range for Private Google Access.
  private_googleapis_cidr      = "199.36.153.8/30"
  private_googleapis_addresses = ["199.36.153.8", "199.36.153.9", "199.36.153.10", "199.36.153.11"]
}
