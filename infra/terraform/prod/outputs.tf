# What k8s/overlays/prod needs from this infrastructure, one output each (tests/delivery checks
# that every such value of the rendered overlay has its output here). Values known only after
# apply (addresses, the project in an email) replace the overlay's placeholders at first deploy.

output "checkpoint_bucket" {
  description = "Host of the FlinkDeployment's s3:// URIs (checkpoints, savepoints, HA data)."
  value       = module.object_storage.bucket_name
}

output "s3_endpoint" {
  description = "The FlinkDeployment's s3.endpoint (path-style access)."
  value       = module.object_storage.s3_endpoint
}

output "gold_db_hostname" {
  description = "The externalName of Service streamflow-gold-db."
  value       = module.gold_database.hostname
}

output "network_cidrs" {
  description = "The data of the overlay's network-cidrs.yaml, key by key."
  value = {
    kubernetes-api = module.node_pool.kubernetes_api_cidr
    object-store   = module.object_storage.egress_cidr
    gold-db        = module.gold_database.private_ip_cidr
  }
}

output "flink_service_account_email" {
  description = "The iam.gke.io/gcp-service-account annotation of ServiceAccount streamflow-flink."
  value       = module.flink_identity.email
}

output "flink_kubernetes_service_account" {
  description = "The Kubernetes ServiceAccount bound to that Google service account (<namespace>/<name>)."
  value       = "${var.kubernetes_namespace}/${var.flink_kubernetes_service_account}"
}

output "kubernetes_secrets" {
  description = "The secret store entries (Secret name -> keys) the overlay's Secrets are synced from."
  value       = local.kubernetes_secrets
}

output "node_pool" {
  description = "StreamFlow's node pool in the platform's cluster."
  value       = module.node_pool.node_pool
}
