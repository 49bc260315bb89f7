"""Reports on results files: HTML and Markdown, run comparison, merging of runs.

The report never re-runs anything: it reads results files (``conformance.records``) and
aggregates them. Modules, one job each:

* ``cells``: the cell key that identifies a check across runs, and the orderings/labels;
* ``load``: reading one or several runs into one ``Run`` (several runs are merged in memory);
* ``model``: aggregation of a run into what the page shows (scoreboard, matrix, ...);
* ``details``: the drill-down data for failing cells (loaded by the page on demand);
* ``plots``: matplotlib figures rendered to inline SVG;
* ``html``: Jinja2 rendering (autoescape) and safe embedding of JSON in a page;
* ``markdown``: the Markdown summaries (CI job summary);
* ``compare``: baseline against candidate;
* ``merge``: several runs into one merged results file;
* ``commands``: the ``report``, ``compare`` and ``merge`` subcommands and the end-of-run report.
"""
