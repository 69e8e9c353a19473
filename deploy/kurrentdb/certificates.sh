#!/bin/sh
# Run once by compose.yaml's `certificates` service, in KurrentDB's es-gencert-cli image: makes a
# private CA and a certificate for each node the first time, and keeps them on later runs.
#
#   /ca     the CA's certificate and key: this service's volume only
#   /certs  ca/ca.crt and node<n>/node.crt, node.key: mounted by the nodes
#   /trust  ca.crt alone: mounted by the clients (plgd)
set -eu

if [ ! -f /ca/ca.crt ]; then
  es-gencert-cli create-ca -out /ca
fi

for node in node1 node2 node3; do
  if [ ! -f "/certs/$node/node.crt" ]; then
    # The nodes find one another, and clients find them, by their names on the Compose network;
    # localhost serves each node's own health check.
    es-gencert-cli create-node -ca-certificate /ca/ca.crt -ca-key /ca/ca.key \
      -out "/certs/$node" -dns-names "$node,localhost" -ip-addresses 127.0.0.1
  fi
done

mkdir -p /certs/ca
cp /ca/ca.crt /certs/ca/ca.crt
cp /ca/ca.crt /trust/ca.crt
# KurrentDB's image runs as a user of its own, whose id this image cannot know: its node key is
# made readable to all, as in KurrentDB's own Compose example. Only the nodes mount /certs.
chmod 0755 /certs /certs/ca /certs/node1 /certs/node2 /certs/node3 /trust
chmod 0644 /certs/ca/ca.crt /certs/node*/node.crt /certs/node*/node.key /trust/ca.crt
