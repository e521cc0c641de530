output "email" {
  description = "The Google service account of the Flink pods: the prod overlay's iam.gke.io/gcp-service-account annotation."
  value       = google_service_account.flink.email
}

output "hmac_access_id" {
  description = "HMAC access id of that account (streamflow-s3 access-key-id)."
  value       = google_storage_hmac_key.flink.access_id
}

output "hmac_secret" {
  description = "HMAC secret of that account (streamflow-s3 secret-access-key)."
  value       = google_storage_hmac_key.flink.secret
  sensitive   = true
}
