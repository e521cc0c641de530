# The secret store entries behind the Kubernetes Secrets the prod overlay references: one Secret
# Manager secret per Kubernetes Secret, of the same name, whose payload is a JSON object of that
# Secret's keys (the platform's secret sync, e.g. External Secrets' dataFrom.extract, turns each
# into the Secret in namespace streamflow). The Kafka user's password is not here: the Strimzi
# User Operator writes it into Secret streamflow-scoring from the KafkaUser.

resource "google_secret_manager_secret" "entry" {
  for_each  = var.secret_keys
  project   = var.project_id
  secret_id = each.key
  labels    = var.labels

  replication {
    user_managed {
      replicas {
        location = var.region
        customer_managed_encryption {
          kms_key_name = var.kms_key_name
        }
      }
    }
  }
}

resource "google_secret_manager_secret_version" "entry" {
  for_each    = var.secret_keys
  secret      = google_secret_manager_secret.entry[each.key].id
  secret_data = jsonencode(var.secret_values[each.key])

  lifecycle {
    precondition {
      condition     = sort(keys(var.secret_values[each.key])) == sort(each.value)
      error_message = "The values of each secret must have exactly the keys declared in secret_keys."
    }
  }
}

# Read access for the platform's secret sync only.
resource "google_secret_manager_secret_iam_member" "sync" {
  for_each  = var.secret_keys
  project   = var.project_id
  secret_id = google_secret_manager_secret.entry[each.key].secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = var.sync_member
}
