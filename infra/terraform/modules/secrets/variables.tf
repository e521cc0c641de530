variable "project_id" {
  description = "The Google Cloud project of the StreamFlow production resources."
  type        = string
}

variable "region" {
  description = "The one region the secrets are replicated in."
  type        = string
}

variable "kms_key_name" {
  description = "Cloud KMS key (in that region) that encrypts the payloads."
  type        = string
}

variable "secret_keys" {
  description = "Kubernetes Secret name -> the keys it holds (one Secret Manager secret each, of that name)."
  type        = map(list(string))
}

variable "secret_values" {
  description = "Kubernetes Secret name -> key -> value (the payload is that map as JSON)."
  type        = map(map(string))
  sensitive   = true
}

variable "sync_member" {
  description = "IAM member that syncs the entries into Kubernetes Secrets (e.g. External Secrets' Google service account)."
  type        = string
}

variable "labels" {
  description = "Labels of every resource."
  type        = map(string)
  default     = {}
}
