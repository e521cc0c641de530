output "bucket_name" {
  description = "The bucket (the s3://<bucket>/ of checkpoints, savepoints and HA data)."
  value       = google_storage_bucket.checkpoints.name
}

output "s3_endpoint" {
  description = "The S3-compatible endpoint of the store: the FlinkDeployment's s3.endpoint (path-style access)."
  value       = "https://storage.googleapis.com"
}

output "egress_cidr" {
  description = "The addresses storage.googleapis.com resolves to in the VPC: the overlay's network-cidrs object-store."
  value       = local.private_googleapis_cidr
}
