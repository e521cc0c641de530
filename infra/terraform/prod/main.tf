# StreamFlow production on Google Cloud: what k8s/overlays/prod assumes exists. The GKE cluster,
# its VPC and the Kafka cluster are the platform's; this root adds the checkpoint store, gold's
# PostgreSQL, StreamFlow's node pool, the Flink pods' identity and the secret store entries.
# Not planned or applied here (no cloud, no Terraform providers): tests/delivery parses it, checks
# it against the rendered overlay, and runs checkov on it (docs/delivery.md).

locals {
  labels = { app = "streamflow", environment = "prod" }

  # The Secrets the prod overlay references that the secret store must hold, and their keys
  # (tests/delivery checks this map against the rendered overlay). The Kafka user's Secret
  # (streamflow-scoring) and the cluster CA (streamflow-cluster-ca-cert) come from Strimzi.
  kubernetes_secrets = {
    streamflow-gold-db        = ["url"]
    streamflow-s3             = ["access-key-id", "secret-access-key"]
    streamflow-card-pseudonym = ["key"]
  }
}

data "google_project" "this" {
  project_id = var.project_id
}

data "google_storage_project_service_account" "gcs" {
  project = var.project_id
}

# Customer-managed keys: one per service, rotated every 90 days.
resource "google_kms_key_ring" "streamflow" {
  project  = var.project_id
  name     = "streamflow"
  location = var.region
}

resource "google_kms_crypto_key" "key" {
  for_each        = toset(["storage", "sql", "secrets"])
  name            = "streamflow-${each.key}"
  key_ring        = google_kms_key_ring.streamflow.id
  rotation_period = "7776000s"
  labels          = local.labels

  lifecycle {
    prevent_destroy = true
  }
}

# Each service's agent encrypts and decrypts with its own key only.
resource "google_kms_crypto_key_iam_member" "agent" {
  for_each = {
    storage = "serviceAccount:${data.google_storage_project_service_account.gcs.email_address}"
    sql     = "serviceAccount:service-${data.google_project.this.number}@gcp-sa-cloud-sql.iam.gserviceaccount.com"
    secrets = "serviceAccount:service-${data.google_project.this.number}@gcp-sa-secretmanager.iam.gserviceaccount.com"
  }
  crypto_key_id = google_kms_crypto_key.key[each.key].id
  role          = "roles/cloudkms.cryptoKeyEncrypterDecrypter"
  member        = each.value
}

module "object_storage" {
  source            = "../modules/object_storage"
  project_id        = var.project_id
  location          = var.region
  bucket_name       = var.checkpoint_bucket
  network           = var.network
  kms_key_name      = google_kms_crypto_key.key["storage"].id
  access_log_bucket = var.access_log_bucket
  labels            = local.labels

  depends_on = [google_kms_crypto_key_iam_member.agent]
}

module "gold_database" {
  source       = "../modules/gold_database"
  project_id   = var.project_id
  region       = var.region
  network      = var.network
  hostname     = var.gold_db_hostname
  kms_key_name = google_kms_crypto_key.key["sql"].id
  labels       = local.labels

  depends_on = [google_kms_crypto_key_iam_member.agent]
}

module "node_pool" {
  source       = "../modules/node_pool"
  project_id   = var.project_id
  cluster_name = var.cluster_name
  location     = var.region
  labels       = local.labels
}

module "flink_identity" {
  source                     = "../modules/flink_identity"
  project_id                 = var.project_id
  bucket_name                = module.object_storage.bucket_name
  workload_identity_pool     = module.node_pool.workload_identity_pool
  kubernetes_namespace       = var.kubernetes_namespace
  kubernetes_service_account = var.flink_kubernetes_service_account
}

# gold's pseudonym key: 32 random bytes as 64 hex digits (what conf/prod/credentials.yml reads).
# Kept for good: gold's card pseudonyms depend on it (docs/runbooks.md).
resource "random_id" "card_pseudonym_key" {
  byte_length = 32

  lifecycle {
    prevent_destroy = true
  }
}

module "secrets" {
  source       = "../modules/secrets"
  project_id   = var.project_id
  region       = var.region
  kms_key_name = google_kms_crypto_key.key["secrets"].id
  sync_member  = var.secret_sync_member
  labels       = local.labels
  secret_keys  = local.kubernetes_secrets
  secret_values = {
    streamflow-gold-db = {
      url = "postgresql+psycopg://${module.gold_database.user_name}:${module.gold_database.password}@${var.gold_db_service}:5432/${module.gold_database.database_name}?sslmode=require"
    }
    streamflow-s3 = {
      access-key-id     = module.flink_identity.hmac_access_id
      secret-access-key = module.flink_identity.hmac_secret
    }
    streamflow-card-pseudonym = {
      key = random_id.card_pseudonym_key.hex
    }
  }

  depends_on = [google_kms_crypto_key_iam_member.agent]
}
