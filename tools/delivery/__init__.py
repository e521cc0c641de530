"""Delivery tooling: the deploy script (``make deploy``) and the checkov scan with its waivers (``make checkov``)."""
