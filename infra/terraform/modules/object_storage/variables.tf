variable "project_id" {
  description = "The Google Cloud project of the StreamFlow production resources."
  type        = string
}

variable "location" {
  description = "The bucket's location (a region, the cluster's)."
  type        = string
}

variable "bucket_name" {
  description = "The bucket of checkpoints, savepoints and HA data: the host of the s3:// URIs in the FlinkDeployment."
  type        = string
}

variable "network" {
  description = "Self link of the VPC network the cluster's nodes are in (storage.googleapis.com is made private there)."
  type        = string
}

variable "kms_key_name" {
  description = "Cloud KMS key that encrypts the bucket's objects."
  type        = string
}

variable "access_log_bucket" {
  description = "Bucket that receives the usage logs of the checkpoint bucket."
  type        = string
}

variable "noncurrent_retention_days" {
  description = "Days an overwritten or deleted object version is kept."
  type        = number
  default     = 7
}

variable "labels" {
  description = "Labels of every resource."
  type        = map(string)
  default     = {}
}
