"""The web console (``modemd web``): French server-rendered pages over modemd.operations, for
the duty officers who send alerts, the CCI staff who keep the members list, and admins."""
