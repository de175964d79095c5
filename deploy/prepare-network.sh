#!/usr/bin/env bash
# Prepare data directories for deploy/compose.yaml: keys, a genesis signed by all three
# participants, adopted by each, and an authority officer per participant.
# Usage: deploy/prepare-network.sh DIR   (needs `kp-node` on PATH: pip install ".[node]")
set -euo pipefail
dir=${1:?usage: $0 DIR}
network=kp.compose.example
members=(BW EU IN)
hosts=(bw eu in)
mkdir -p "$dir"
files=()
for i in "${!members[@]}"; do
  m=${members[$i]}
  kp-node init --dir "$dir/$m" --participant "$m" --network "$network" \
    --name "KP authority of $m" --host 0.0.0.0 --port 8400 \
    --public-url "http://${hosts[$i]}:8400" > /dev/null
  files+=(--participant-file "$dir/$m/participant.json")
done
genesis=$(kp-node charter genesis --network "$network" "${files[@]}" -o "$dir/genesis.charter")
for m in "${members[@]}"; do kp-node charter sign --dir "$dir/$m" "$dir/genesis.charter"; done
kp-node charter verify --genesis "$genesis" "$dir/genesis.charter"
for m in "${members[@]}"; do
  kp-node charter adopt --dir "$dir/$m" "$dir/genesis.charter"
  mkdir -p "$dir/$m/operators"
  python3 -c "from node import crypto; crypto.save_private_key('$dir/$m/operators/officer.pem', crypto.generate_private_key())"
  kp-node operator add --dir "$dir/$m" officer --kind authority --key-file "$dir/$m/operators/officer.pem"
done
# The container runs as uid 10001.
chown -R 10001:10001 "$dir" 2>/dev/null || echo "note: chown to 10001 needs root; do it before 'up'"
echo "genesis (the network id verifiers trust): $genesis"
