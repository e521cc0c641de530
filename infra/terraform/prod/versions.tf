terraform {
  required_version = ">= 1.6"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = "~> 7.0"
    }
    random = {
      source  = "hashicorp/random"
      version = "~> 3.6"
    }
  }

  # The state holds the generated secrets: keep it in a bucket with versioning, CMEK and access
  # limited to whoever runs this root. The bucket name is a placeholder, like the overlay's registry.
  backend "gcs" {
    bucket = "streamflow-terraform-state"
    prefix = "prod"
  }
}

provider "google" {
  project = var.project_id
  region  = var.region
}
