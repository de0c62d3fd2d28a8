// Package deploy holds no code: it is the home of the monitoring files
// (prometheus/alerts.yml, prometheus/prometheus.yml, grafana/crmsync.json
// and Grafana's provisioning) and of the test that checks them against the
// metrics crmsync exports.
package deploy
