"""A cohort's results: score tables (``5_parsing``, ``6_summary``), reports (``7_reporting``), the
HTML report, the export and the re-parse. Entry point: ``writer.write_all_results(data_root)``.

The statistics: ``stats`` (intervals over essays, rates, ranks with ties), ``scale`` (each rubric's
scale), ``agreement`` (graders within a rubric), ``compare`` (paired comparisons), ``success``
(success rate and cost per success).

Nothing heavy is imported here, so ``daydream --help`` stays fast.
"""
