"""Changes: deploys, configuration updates and other changes to a service that are not
problems themselves, kept so that responders can see what changed before an incident
(PagerDuty's change events arrive at ``POST /v2/change/enqueue``)."""
