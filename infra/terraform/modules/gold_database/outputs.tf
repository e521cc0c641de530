output "hostname" {
  description = "Private DNS name of the instance (the overlay's ExternalName)."
  value       = trimsuffix(google_dns_record_set.gold.name, ".")
}

output "private_ip_cidr" {
  description = "The instance's private address as a /32: the overlay's network-cidrs gold-db."
  value       = "${google_sql_database_instance.gold.private_ip_address}/32"
}

output "database_name" {
  description = "The gold database."
  value       = google_sql_database.gold.name
}

output "user_name" {
  description = "The user the batch pods connect as."
  value       = google_sql_user.gold.name
}

output "password" {
  description = "The user's password (into the secret store's streamflow-gold-db url only)."
  value       = random_password.gold.result
  sensitive   = true
}
