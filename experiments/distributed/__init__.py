"""The distributed runner's processes (Ray actors) and how they start.

  coordinator.py    counters, the step budget, the stop flag, parameter versions
  replay_server.py  any ReplayBackend (Reverb or device) behind Ray calls
  remote_replay.py  the ReplayBackend protocol over a replay server handle
  workers.py        actor, learner and evaluator processes
  ray_cluster.py    starting or joining Ray, loopback only by default

The host loop that launches them is experiments/distributed_runner.py.
Every class here is plain Python; the launcher wraps it with `ray.remote`,
so this package imports (and its logic is tested) without Ray.
"""
