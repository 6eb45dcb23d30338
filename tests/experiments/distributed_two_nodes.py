"""Runs a short distributed DQN run on a two-node Ray cluster started on
this machine (Ray's `cluster_utils.Cluster`: two raylets on loopback),
joined by --ray-address, so the path that crosses machines is exercised.
Used by test_distributed.py as a subprocess:

  python -m tests.experiments.distributed_two_nodes RUN_DIR REPLAY

The process first moves into a loopback-only network namespace (as the
command line does for a local run), so no port of the cluster is reachable
from outside. Prints one JSON line: the summary's per-actor node ids and
the cluster's node ids.
"""
from __future__ import annotations

import json
import sys

from experiments import network_isolation


def main(run_dir: str, replay: str) -> None:
  problem = network_isolation.isolate_network()
  if problem:
    print(f"warning: not isolated: {problem}", file=sys.stderr)
  import ray  # pylint: disable=g-import-not-at-top
  from ray import cluster_utils  # pylint: disable=g-import-not-at-top
  from experiments import config as config_lib  # pylint: disable=g-import-not-at-top
  from experiments import distributed_runner  # pylint: disable=g-import-not-at-top
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  cluster = cluster_utils.Cluster(
      initialize_head=True, connect=False,
      head_node_args={"num_cpus": 2, "node_ip_address": "127.0.0.1",
                      "include_dashboard": False})
  try:
    cluster.add_node(num_cpus=2, node_ip_address="127.0.0.1")
    cluster.wait_for_nodes()
    config = config_lib.default_config(
        "dqn", "CartPole-v1", runner="distributed", ray_address=cluster.address,
        num_actors=2, num_steps=3000, eval_every=0, eval_episodes=2,
        run_dir=run_dir, replay=replay, progress=False, tensorboard=False)
    summary = distributed_runner.run(config)
    ray.init(address=cluster.address, log_to_driver=False)
    nodes = [n["NodeID"] for n in ray.nodes() if n["Alive"]]
    ray.shutdown()
    print(json.dumps({
        "env_steps": summary.env_steps,
        "actor_nodes": {k: v["node"] for k, v in summary.extra["actors"].items()},
        "cluster_nodes": nodes}))
  finally:
    cluster.shutdown()


if __name__ == "__main__":
  main(sys.argv[1], sys.argv[2])
