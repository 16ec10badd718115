"""The reference CRM: HubSpot's CRM v3 objects API (contacts, companies, deals) on SQLite.

Run it with `python -m services.crm --help`; `connectors.hubspot` talks to it and to HubSpot alike.
"""
