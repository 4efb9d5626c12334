"""The run: a workload applied to a kernel, op by op (driver), the immutable snapshot a view reads, the timeline that travels back in time, and compare mode's lockstep pair."""
