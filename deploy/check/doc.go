// Command check parses Kubernetes manifests (multi-document YAML) and
// checks the keys each kind needs, for make deploy-check where neither
// kubectl nor kubeconform is available.
//
//	go run ./deploy/check [-configmaps DIR] FILE...
//
// Every document must have apiVersion, kind and metadata.name; Services
// need ports, StatefulSets and Deployments a selector matching the pod
// template's labels, containers with images, and (StatefulSets) a
// serviceName; every container port a probe names must exist, and a
// container's liveness and readiness probes may not get the same path;
// PodDisruptionBudgets need a selector and one of maxUnavailable and
// minAvailable. With
// -configmaps, each ConfigMap data entry is written to DIR/<key> so the
// caller can validate it with the owning binary's --check-config.
//
// The command imports only go.yaml.in/yaml/v3 and the standard library.
// Its test, TestLeafSitePermissions, runs the hub tier's authorization
// and the TLS leaf config on real nats-server processes (bin/nats-server)
// and checks that a site can publish only its own tele.<site>.> and
// receive only its own alerts.<site>.>.
package main
