"""The CMM twin: a CSV drop folder, thermal compensation at the edge, OPC UA and an MES."""
