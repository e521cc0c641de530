variable "project_id" {
  description = "The Google Cloud project of the StreamFlow production resources."
  type        = string
}

variable "account_id" {
  description = "Account id of the Flink pods' Google service account (the local part of its email)."
  type        = string
  default     = "streamflow-flink"
}

variable "bucket_name" {
  description = "The checkpoint bucket the pods write."
  type        = string
}

variable "workload_identity_pool" {
  description = "The cluster's Workload Identity pool (<project>.svc.id.goog)."
  type        = string
}

variable "kubernetes_namespace" {
  description = "Namespace of the Flink pods (the overlays' namespace)."
  type        = string
}

variable "kubernetes_service_account" {
  description = "ServiceAccount of the Flink pods (the FlinkDeployment's spec.serviceAccount)."
  type        = string
}
