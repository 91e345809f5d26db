"""Renderers: each output format one module over the analysis results. They never
touch the GPU and never compute what the analysis modules compute.

    console        `stepscope report` text
    json_report    `stepscope report --json`
    perfetto       Chrome trace-event JSON for ui.perfetto.dev
    figures        launch-gap timelines, attribution bars
    result_figures A/B, sweep and comparison figures
    tables         markdown/CSV/text tables of result sets
"""
