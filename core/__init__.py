"""The kernel every app may import and that imports no app: the error every door shows
(errors), the REST API's shared pieces (api, authentication) and admin mixins (admin)."""
