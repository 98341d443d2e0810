"""A cohort's results: score tables (``5_parsing``, ``6_summary``), reports (``7_reporting``), the
HTML report, the export and the re-parse. Entry point: ``writer.write_all_results(data_root)``.

Nothing heavy is imported here, so ``daydream --help`` stays fast.
"""
