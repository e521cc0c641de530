# The identity of the Flink pods (JobManagers and TaskManagers): the Google service account
# streamflow-flink. Workload Identity binds the pods' Kubernetes ServiceAccount to it (the prod
# overlay annotates that ServiceAccount with its email), and the checkpoint bucket lets it read,
# write and delete objects, nothing else. Flink's s3:// file system speaks the S3-compatible XML
# API, which authenticates with an HMAC key of a service account: the key below belongs to this
# same account, so every write the pods make is made as streamflow-flink.

resource "google_service_account" "flink" {
  project      = var.project_id
  account_id   = var.account_id
  display_name = "StreamFlow Flink job (checkpoints, savepoints, HA data)"
}

# Objects only (create, read, overwrite, delete for checkpoint clean-up), on this bucket only.
resource "google_storage_bucket_iam_member" "flink_objects" {
  bucket = var.bucket_name
  role   = "roles/storage.objectUser"
  member = "serviceAccount:${google_service_account.flink.email}"
}

# Workload Identity: the Kubernetes ServiceAccount <namespace>/<name> may act as this account.
resource "google_service_account_iam_member" "workload_identity" {
  service_account_id = google_service_account.flink.name
  role               = "roles/iam.workloadIdentityUser"
  member             = "serviceAccount:${var.workload_identity_pool}[${var.kubernetes_namespace}/${var.kubernetes_service_account}]"
}

# The S3-compatible credentials of the same account (into the secret store's streamflow-s3).
resource "google_storage_hmac_key" "flink" {
  project               = var.project_id
  service_account_email = google_service_account.flink.email
}
