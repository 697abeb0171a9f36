"""The report's sections, one renderer per stage: each takes the stage's typed result
(`mlgate.results`) and returns the `Section`s it adds to the PR report and job summary.
`mlgate.report.compose` lists them in `BUILDERS`."""
