output "secret_ids" {
  description = "The Secret Manager secret ids: the names of the Kubernetes Secrets they become."
  value       = sort([for entry in google_secret_manager_secret.entry : entry.secret_id])
}
