variable "project_id" {
  description = "The Google Cloud project of the StreamFlow production resources."
  type        = string
}

variable "region" {
  description = "The region of the cluster, the bucket, the database and the secrets."
  type        = string
  default     = "europe-west1"
}

variable "network" {
  description = "Self link of the cluster's VPC network (Private Google Access on the nodes' subnet, private services access for Cloud SQL)."
  type        = string
}

variable "cluster_name" {
  description = "The platform's GKE cluster (private, Workload Identity enabled)."
  type        = string
}

variable "access_log_bucket" {
  description = "The platform's bucket for storage usage logs."
  type        = string
}

variable "secret_sync_member" {
  description = "IAM member of the platform's secret sync (e.g. serviceAccount:external-secrets@<project>.iam.gserviceaccount.com)."
  type        = string
}

# What the overlay names: tests/delivery checks each default against the rendered prod overlay.
variable "kubernetes_namespace" {
  description = "The overlays' namespace."
  type        = string
  default     = "streamflow"
}

variable "flink_kubernetes_service_account" {
  description = "The FlinkDeployment's spec.serviceAccount."
  type        = string
  default     = "streamflow-flink"
}

variable "checkpoint_bucket" {
  description = "The bucket of the FlinkDeployment's s3:// URIs (checkpoints/, savepoints/, ha/)."
  type        = string
  default     = "streamflow-flink"
}

variable "gold_db_hostname" {
  description = "The externalName of the overlay's Service streamflow-gold-db."
  type        = string
  default     = "streamflow-gold.postgres.storage.internal"
}

variable "gold_db_service" {
  description = "The Service the batch pods connect to (the host of the streamflow-gold-db url)."
  type        = string
  default     = "streamflow-gold-db"
}
