"""PostgreSQL: leave half of each page of ``bulkupload_uploadrow`` free.

Applying a batch writes each row's outcome, target and previous values: columns
no index covers. With room on the page, PostgreSQL rewrites such a row in place
(a HOT update) instead of adding an entry to each of the table's five indexes;
on a 100,000-row batch that halves the time of those writes
(``bench/pipeline.py``). Other databases need nothing.
"""

from django.db import migrations


def set_fillfactor(value):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        table = schema_editor.quote_name(apps.get_model("bulkupload", "UploadRow")._meta.db_table)
        schema_editor.execute(f"ALTER TABLE {table} SET (fillfactor = {int(value)})")

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("bulkupload", "0004_uploadrow_chunk_index"),
    ]

    operations = [
        migrations.RunPython(set_fillfactor(50), set_fillfactor(100), elidable=False),
    ]
