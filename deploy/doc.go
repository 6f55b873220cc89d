// Package deploy holds the deployment files (container image, compose file,
// Kubernetes manifests, Prometheus rules, Grafana dashboard) and the tests
// that check them without a container engine.
package deploy
