"""The lab: a world (harness/worlds, field units) compiled and running -- netem namespaces and
links, the origin and edge in their hosts, outages on their timeline, probes from the client
(runtime.RunningWorld)."""
