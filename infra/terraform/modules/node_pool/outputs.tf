output "node_pool" {
  description = "The node pool's name."
  value       = google_container_node_pool.streamflow.name
}

output "workload_identity_pool" {
  description = "The cluster's Workload Identity pool (<project>.svc.id.goog)."
  value       = data.google_container_cluster.platform.workload_identity_config[0].workload_pool
}

output "kubernetes_api_cidr" {
  description = "The control plane's private endpoint as a /32: the overlay's network-cidrs kubernetes-api."
  value       = "${data.google_container_cluster.platform.private_cluster_config[0].private_endpoint}/32"
}
