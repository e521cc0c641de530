variable "project_id" {
  description = "The Google Cloud project of the StreamFlow production resources."
  type        = string
}

variable "cluster_name" {
  description = "The platform's GKE cluster (private, Workload Identity enabled)."
  type        = string
}

variable "location" {
  description = "The cluster's region or zone."
  type        = string
}

variable "machine_type" {
  description = "Node machine type: a TaskManager asks 2 CPU and 6 GiB, a JobManager 1 CPU and 2 GiB (k8s/overlays/prod)."
  type        = string
  default     = "n2-standard-4"
}

variable "min_nodes" {
  description = "Fewest nodes: two JobManagers and two TaskManagers must fit, one node may drain."
  type        = number
  default     = 3
}

variable "max_nodes" {
  description = "Most nodes."
  type        = number
  default     = 6
}

variable "labels" {
  description = "Labels of every resource."
  type        = map(string)
  default     = {}
}
