"""FHIR interactions independent of HTTP: the REST routes and the Bundle engine both call here."""
