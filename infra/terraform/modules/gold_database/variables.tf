variable "project_id" {
  description = "The Google Cloud project of the StreamFlow production resources."
  type        = string
}

variable "region" {
  description = "The instance's region (the cluster's)."
  type        = string
}

variable "network" {
  description = "Self link of the VPC network (with private services access) the instance gets its private IP in."
  type        = string
}

variable "instance_name" {
  description = "Name of the Cloud SQL instance."
  type        = string
  default     = "streamflow-gold"
}

variable "database_version" {
  description = "PostgreSQL major version."
  type        = string
  default     = "POSTGRES_18"
}

variable "tier" {
  description = "Machine tier of the instance."
  type        = string
  default     = "db-custom-2-7680"
}

variable "database_name" {
  description = "The gold database."
  type        = string
  default     = "streamflow"
}

variable "user_name" {
  description = "The user the batch pods connect as."
  type        = string
  default     = "streamflow"
}

variable "hostname" {
  description = "Private DNS name of the instance: the externalName of the overlay's Service streamflow-gold-db."
  type        = string
}

variable "kms_key_name" {
  description = "Cloud KMS key that encrypts the instance's disks and backups."
  type        = string
}

variable "labels" {
  description = "Labels of every resource."
  type        = map(string)
  default     = {}
}
