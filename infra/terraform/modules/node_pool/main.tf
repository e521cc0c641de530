# The node pool StreamFlow's pods run on, in the platform's GKE cluster (created and upgraded by the
# platform team; read here, not managed). Nodes serve Workload Identity (GKE metadata server), so a
# pod acts as the Google service account its Kubernetes ServiceAccount is bound to, never as the
# node's own account, which may only write logs and metrics and pull images.

data "google_container_cluster" "platform" {
  project  = var.project_id
  name     = var.cluster_name
  location = var.location
}

resource "google_service_account" "nodes" {
  project      = var.project_id
  account_id   = "streamflow-nodes"
  display_name = "StreamFlow GKE nodes (logs, metrics, image pulls only)"
}

resource "google_project_iam_member" "nodes" {
  for_each = toset([
    "roles/logging.logWriter",
    "roles/monitoring.metricWriter",
    "roles/monitoring.viewer",
    "roles/stackdriver.resourceMetadata.writer",
    "roles/artifactregistry.reader",
  ])
  project = var.project_id
  role    = each.value
  member  = "serviceAccount:${google_service_account.nodes.email}"
}

resource "google_container_node_pool" "streamflow" {
  project  = var.project_id
  name     = "streamflow"
  cluster  = data.google_container_cluster.platform.id
  location = var.location

  autoscaling {
    total_min_node_count = var.min_nodes
    total_max_node_count = var.max_nodes
  }

  management {
    auto_repair  = true
    auto_upgrade = true
  }

  upgrade_settings {
    max_surge       = 1
    max_unavailable = 0 # a node drains only after its replacement is up (the PDBs allow one pod at a time)
  }

  node_config {
    machine_type    = var.machine_type
    image_type      = "COS_CONTAINERD"
    disk_type       = "pd-balanced"
    disk_size_gb    = 100
    service_account = google_service_account.nodes.email
    oauth_scopes    = ["https://www.googleapis.com/auth/cloud-platform"]
    labels          = merge(var.labels, { "streamflow.io/pool" = "streamflow" })
    resource_labels = var.labels

    workload_metadata_config {
      mode = "GKE_METADATA"
    }
    shielded_instance_config {
      enable_secure_boot          = true
      enable_integrity_monitoring = true
    }
    metadata = {
      disable-legacy-endpoints = "true"
    }
  }
}
