"""Run reports: what happened on one thread, read back from its checkpoints. Private.

Modules::

    report           run_report: a thread's report, read from a graph or a bare saver
    report_types     NodeStatus, NodeReport, RunReport and their renderings
    steps            one thread's supersteps, from a compiled graph or a bare saver
    stored           what a report reads beside the checkpoints: stored shape, node times
    render           a report as a text table, a mermaid chart, an HTML page, Markdown
    html             the HTML report's pictures: the graph and a timeline
"""
