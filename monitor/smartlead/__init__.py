"""The SmartLead boundary: payload models, the API client and the simulator."""
