"""Command line and configuration behaviour of the real binary, and
migrations against a real PostgreSQL."""

import threading
import unittest

from harness import Postgres, run_cli

pg = None


def setUpModule():
    global pg
    pg = Postgres()
    pg.start()


def tearDownModule():
    pg.destroy()


class Cli(unittest.TestCase):
    def test_help_and_version(self):
        r = run_cli(["--help"])
        self.assertEqual(r.returncode, 0)
        self.assertIn("serve", r.stdout)
        self.assertIn("DATABASE_URL", r.stdout)
        r = run_cli(["--version"])
        self.assertEqual(r.returncode, 0)
        self.assertRegex(r.stdout, r"^clean-service \d+\.\d+\.\d+")

    def test_unknown_subcommand_and_flag(self):
        for args in (["explode"], ["--frobnicate"], ["serve", "--now"], []):
            r = run_cli(args)
            self.assertEqual(r.returncode, 2, args)
            self.assertIn("Usage:", r.stderr)
            self.assertEqual(r.stdout, "")

    def test_bad_configuration_names_the_variable(self):
        r = run_cli(["serve"], env={"PORT": "99999", "DATABASE_URL": pg.url})
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("PORT", r.stderr)
        self.assertIn("0 to 65535", r.stderr)
        r = run_cli(["serve"], env={"LOG_FORMAT": "xml", "DATABASE_URL": pg.url})
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("LOG_FORMAT", r.stderr)

    def test_missing_database_url(self):
        r = run_cli(["migrate"], env={"DATABASE_URL": ""})
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("DATABASE_URL", r.stderr)


class Migrations(unittest.TestCase):
    def test_migrate_status_and_concurrent_migrate(self):
        pg.psql("DROP TABLE IF EXISTS schema_migrations")
        env = {"DATABASE_URL": pg.url}
        r = run_cli(["migrate", "--status"], env=env)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("pending", r.stdout)

        # Two instances migrating at once: both succeed, each version applied once.
        results = [None, None]

        def migrate(i):
            results[i] = run_cli(["migrate"], env=env)

        threads = [threading.Thread(target=migrate, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for r in results:
            self.assertEqual(r.returncode, 0, r.stderr)
        counts = pg.psql("SELECT count(*), count(DISTINCT version) FROM schema_migrations")
        total, distinct = counts.split("|")
        self.assertEqual(total, distinct)

        r = run_cli(["migrate", "--status"], env=env)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("up to date", r.stdout)

    def test_unreachable_database_fails_clearly(self):
        r = run_cli(["migrate"], env={"DATABASE_URL": "postgresql://nobody:pw@127.0.0.1:1/x"})
        self.assertEqual(r.returncode, 1)
        self.assertIn("migration_failed", r.stderr + r.stdout)
        self.assertNotIn(":pw@", r.stderr + r.stdout)


if __name__ == "__main__":
    unittest.main()
