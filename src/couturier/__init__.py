"""Couturier: a self-hosted image creator that builds private, minimal OCI images from Debian
package sources (see README.md and DESIGN.md for the layers below this package)."""
