"""Generate every attachment of the gaia-mini suite, deterministically.

    python tasks/gaia-mini/make_attachments.py [OUT_DIR]        # default: this folder
    python tasks/gaia-mini/make_attachments.py --check [DIR]    # regenerate in a temp dir, compare

Standard library only. Randomness comes from a fixed 64-bit LCG (not `random`), so the output does not
depend on the Python version. Text files and the zip are byte-identical on every run; the SQLite file is
compared by its SQL dump (the file header records the SQLite library version).
`metadata.jsonl` is written by hand; `recompute.py` checks its answers against these files.
"""

from __future__ import annotations

import configparser
import io
import json
import sqlite3
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Callable, Sequence, TypeVar

T = TypeVar("T")
HERE = Path(__file__).resolve().parent


class Lcg:
    """Knuth's MMIX LCG; the high bits are used."""

    def __init__(self, seed: int) -> None:
        self.state = seed & 0xFFFFFFFFFFFFFFFF

    def next(self) -> int:
        self.state = (self.state * 6364136223846793005 + 1442695040888963407) & 0xFFFFFFFFFFFFFFFF
        return self.state >> 33

    def randint(self, lo: int, hi: int) -> int:
        return lo + self.next() % (hi - lo + 1)

    def choice(self, seq: Sequence[T]) -> T:
        return seq[self.randint(0, len(seq) - 1)]


def _cents(c: int) -> str:
    return f"{c // 100}.{c % 100:02d}"


# -- shop: products.json, orders.csv, shop_data.zip ------------------------------------------------

PRODUCTS = [  # product_id, name, category, supplier, weight_kg, base price in cents
    ("P01", "Claw Hammer", "Tools", "Brightline", 1.2, 1899),
    ("P02", "Cordless Drill", "Tools", "Voltarc", 2.4, 8999),
    ("P03", "Socket Set", "Tools", "Brightline", 3.1, 5450),
    ("P04", "Bench Vise", "Tools", "Ironmonger", 6.8, 7425),
    ("P05", "Garden Hose", "Garden", "Greenway", 2.9, 3199),
    ("P06", "Pruning Shears", "Garden", "Greenway", 0.4, 2275),
    ("P07", "Wheelbarrow", "Garden", "Ironmonger", 14.5, 11900),
    ("P08", "Cast Iron Skillet", "Kitchen", "Ironmonger", 2.7, 3850),
    ("P09", "Chef Knife", "Kitchen", "Brightline", 0.3, 6400),
    ("P10", "Stand Mixer", "Kitchen", "Voltarc", 5.6, 24900),
    ("P11", "Desk Lamp", "Electronics", "Voltarc", 1.1, 2999),
    ("P12", "Power Strip", "Electronics", "Brightline", 0.6, 1575),
]
REGIONS = ["North", "South", "East", "West"]


def products_json() -> bytes:
    rows = [{"product_id": pid, "name": name, "category": cat, "supplier": sup, "weight_kg": w}
            for pid, name, cat, sup, w, _ in PRODUCTS]
    return (json.dumps({"products": rows}, indent=2) + "\n").encode()


def orders_csv() -> bytes:
    rng = Lcg(2023)
    raw = []
    for _ in range(120):
        month, day = rng.randint(1, 12), rng.randint(1, 28)
        product = rng.choice(PRODUCTS)
        region = rng.choice(REGIONS)
        quantity = rng.randint(1, 12)
        price = product[5] * rng.randint(90, 110) // 100
        r = rng.randint(1, 100)
        status = "shipped" if r <= 78 else "cancelled" if r <= 90 else "returned"
        raw.append((f"2023-{month:02d}-{day:02d}", region, product[0], quantity, _cents(price), status))
    raw.sort(key=lambda row: row[0])
    out = io.StringIO()
    out.write("order_id,date,region,product_id,quantity,unit_price,status\n")
    for i, (date, region, pid, qty, price, status) in enumerate(raw):
        out.write(f"{1001 + i},{date},{region},{pid},{qty},{price},{status}\n")
    return out.getvalue().encode()


def shop_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as zf:
        for name, data in (("orders.csv", orders_csv()), ("products.json", products_json())):
            info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            info.create_system = 3
            zf.writestr(info, data)
    return buf.getvalue()


# -- company.db ---------------------------------------------------------------------------------------

DEPARTMENTS = [(1, "Executive", 5), (2, "Engineering", 3), (3, "Sales", 2), (4, "Marketing", 2),
               (5, "Finance", 4), (6, "Support", 1), (7, "Research", 3)]
FIRST = ["Alexandra", "Bilal", "Chen", "Dagny", "Emeka", "Farah", "Gustavo", "Hana", "Ivan", "Jade",
         "Kofi", "Lena", "Mateo", "Nadia", "Oskar", "Priya", "Quentin", "Rosa", "Sven", "Tariq",
         "Uma", "Viktor", "Wen", "Ximena", "Yusuf", "Zoe", "Arjun", "Beatriz", "Cormac", "Dalia",
         "Elias", "Fiona", "Goran", "Hiroshi", "Ines", "Jonas", "Kaia", "Luca", "Mira", "Nikolai"]
LAST = ["Reyes", "Okafor", "Lindqvist", "Haddad", "Moreau", "Tanaka", "Novak", "Osei", "Petrova", "Quinn",
        "Rossi", "Schmidt", "Takahashi", "Umarov", "Varga", "Nakamura", "Wojcik", "Yilmaz", "Zhang", "Abbott",
        "Bianchi", "Castillo", "Dubois", "Eriksen", "Fischer", "Garcia", "Horvat", "Ivanova", "Jensen", "Kowalski",
        "Larsen", "Mendes", "Nielsen", "Olsen", "Park", "Ruiz", "Silva", "Torres", "Weber", "Young"]
PROJECTS = ["Apollo", "Borealis", "Cobalt", "Delta", "Ember", "Falcon", "Granite", "Helix"]
BUDGET_FACTORS = [0.82, 1.15, 0.91, 1.30, 0.74, 1.05, 0.97, 1.22]


def company_rows() -> dict[str, list[tuple]]:
    rng = Lcg(4242)
    employees: list[tuple] = []
    # 1 = the CEO; 2..7 = heads of departments 2..7; then staff.
    employees.append((1, f"{FIRST[0]} {LAST[0]}", 1, None, "2012-03-01", 240000))
    heads = {}
    for k in range(2, 8):
        heads[k] = k
        employees.append((k, f"{FIRST[k - 1]} {LAST[k - 1]}", k, 1,
                          f"{rng.randint(2012, 2016)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
                          rng.randint(240, 300) * 500))
    staff_by_dept: dict[int, list[int]] = {k: [] for k in range(2, 8)}
    for eid in range(8, 41):
        dept = rng.randint(2, 7)
        earlier = staff_by_dept[dept]
        manager = rng.choice(earlier) if earlier and rng.randint(1, 100) <= 40 else heads[dept]
        hired = f"{rng.randint(2014, 2024)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
        employees.append((eid, f"{FIRST[eid - 1]} {LAST[eid - 1]}", dept, manager, hired, rng.randint(90, 280) * 500))
        earlier.append(eid)
    projects_dept = [2, 2, 3, 4, 7, 7, 6, 5]
    assignments: list[tuple] = []
    for eid in range(2, 41):
        picked: list[int] = []
        for _ in range(rng.randint(1, 3)):
            pid = rng.randint(1, len(PROJECTS))
            if pid not in picked:
                picked.append(pid)
                assignments.append((eid, pid, rng.randint(2, 40) * 10))
    salary = {e[0]: e[5] for e in employees}
    projects = []
    for i, name in enumerate(PROJECTS, start=1):
        labor = sum(hours * salary[eid] / 2080 for eid, pid, hours in assignments if pid == i)
        projects.append((i, name, projects_dept[i - 1], round(labor * BUDGET_FACTORS[i - 1] / 1000) * 1000))
    return {"departments": DEPARTMENTS, "employees": employees, "projects": projects, "assignments": assignments}


SCHEMA = """
CREATE TABLE departments (id INTEGER PRIMARY KEY, name TEXT NOT NULL, floor INTEGER NOT NULL);
CREATE TABLE employees (id INTEGER PRIMARY KEY, name TEXT NOT NULL, dept_id INTEGER NOT NULL REFERENCES departments(id),
                        manager_id INTEGER REFERENCES employees(id), hire_date TEXT NOT NULL, salary INTEGER NOT NULL);
CREATE TABLE projects (id INTEGER PRIMARY KEY, name TEXT NOT NULL, dept_id INTEGER NOT NULL REFERENCES departments(id),
                       budget INTEGER NOT NULL);
CREATE TABLE assignments (employee_id INTEGER NOT NULL REFERENCES employees(id),
                          project_id INTEGER NOT NULL REFERENCES projects(id), hours INTEGER NOT NULL,
                          PRIMARY KEY (employee_id, project_id));
"""


def write_company_db(path: Path) -> None:
    path.unlink(missing_ok=True)
    rows = company_rows()
    db = sqlite3.connect(path)
    try:
        db.executescript(SCHEMA)
        for table, data in rows.items():
            marks = ",".join("?" * len(data[0]))
            db.executemany(f"INSERT INTO {table} VALUES ({marks})", data)
        db.commit()
        db.execute("VACUUM")
    finally:
        db.close()


def db_dump(path: Path) -> str:
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return "\n".join(db.iterdump())
    finally:
        db.close()


# -- weather.json ------------------------------------------------------------------------------------

STATIONS = [("ST-01", "Harbor Point", 4, 118), ("ST-02", "Mill Ridge", 412, 86), ("ST-03", "Cedar Flats", 95, 124),
            ("ST-04", "Quarry Hill", 260, 101), ("ST-05", "Lakeside", 31, 121)]  # id, name, elevation_m, base temp x10


def weather_json() -> bytes:
    rng = Lcg(41)
    stations = []
    for sid, name, elevation, base in STATIONS:
        readings = []
        for day in range(1, 32):
            temp = base + rng.randint(-45, 45)
            rain = rng.randint(1, 250) if rng.randint(1, 100) <= 38 else 0
            readings.append({"date": f"2024-03-{day:02d}", "temp_c": temp / 10, "rain_mm": rain / 10})
        stations.append({"id": sid, "name": name, "elevation_m": elevation, "readings": readings})
    return (json.dumps({"month": "2024-03", "stations": stations}, indent=1) + "\n").encode()


# -- server.log -------------------------------------------------------------------------------------

SERVICES = {  # service: (error %, endpoints)
    "auth": (5, ["POST /login", "POST /logout", "GET /session"]),
    "billing": (19, ["POST /charge", "GET /invoice", "POST /refund"]),
    "search": (8, ["GET /search", "GET /suggest"]),
    "catalog": (3, ["GET /item", "GET /category", "PUT /item"]),
    "gateway": (14, ["GET /health", "GET /route", "POST /route"]),
}


def server_log() -> bytes:
    rng = Lcg(503)
    names = list(SERVICES)
    t = 8 * 3600
    lines = []
    for _ in range(240):
        t += rng.randint(1, 40)
        service = rng.choice(names)
        error_pct, endpoints = SERVICES[service]
        endpoint = rng.choice(endpoints)
        r = rng.randint(1, 100)
        if r <= error_pct:
            level, status, latency = "ERROR", rng.choice([500, 502, 503]), rng.randint(300, 2000)
        elif r <= error_pct + 9:
            level, status, latency = "WARN", rng.choice([404, 429]), rng.randint(5, 400)
        else:
            level, status, latency = "INFO", 200, rng.randint(5, 400)
        stamp = f"2024-03-05T{t // 3600:02d}:{t // 60 % 60:02d}:{t % 60:02d}Z"
        lines.append(f"{stamp} {level} {service} {endpoint} status={status} latency_ms={latency}")
    return ("\n".join(lines) + "\n").encode()


# -- hand-written text files --------------------------------------------------------------------------

STORY = """\
The Keeper of Gull Rock

Every evening Marta climbed the hundred steps of the tower with a lantern in one hand
and a tin of oil in the other. The great lamp at the top did the real work, but she
never trusted it alone. "A lantern is a promise," her grandfather used to say, "and a
promise is kept by hand."

In the winter of the long storms the great lamp failed. The wind tore the shutters
loose, the glass cracked, and for three nights the only light on Gull Rock was the
small Lantern that Marta hung from the iron railing. Fishermen later swore they had
steered by it, a yellow spark no bigger than a star.

On the fourth night the supply boat came. It carried new glass, a crate of lanterns,
a barrel of oil and a young engineer named Tomas who had never seen the sea. He
laughed at the old lantern. He did not laugh when the storm returned and his new
electric beacon went dark within the hour.

They sat together in the lanternlight until dawn, trimming the wick in turns.
By morning Tomas had learned the three rules of the rock: keep the wick short, keep
the glass clean, and keep a LANTERN lit, whatever the sky promises.

Years later, when the tower was automated and Marta had moved to the village, the
harbor master found her old lantern on a shelf in the oil room. He filled it, lit it,
and set it in the window of the tower, where it burns still on the longest night of
the year.
"""

SETTINGS = """\
; Service configuration for the inventory API.
[server]
host = 0.0.0.0
port = 8080
workers = 6
timeout = 30

[database]
host = db.internal
port = 5432
name = inventory
pool_size = 24
timeout = 15

[cache]
backend = redis
pool_size = 8
ttl_seconds = 600
timeout = 5

[logging]
level = WARNING
file = /var/log/inventory/api.log
rotate_mb = 50
"""

MYSTERY = '''\
"""A small puzzle: what does mystery(n) return?"""


def mystery(n: int) -> int:
    total = 0
    for i in range(1, n + 1):
        if i % 3 == 0 or "7" in str(i):
            total += i * (i % 5 + 1)
        else:
            total -= i // 4
    return total


if __name__ == "__main__":
    print(mystery(10))
'''

CIPHER_PLAINTEXT = "meet me at the old harbor when the tide turns at midnight"
CIPHER_KEY = 11
ALPHABET = "abcdefghijklmnopqrstuvwxyz"


def _encrypt(plaintext: str, key: int) -> str:
    out, i = [], 0
    for ch in plaintext:
        if ch in ALPHABET:
            out.append(ALPHABET[(ALPHABET.index(ch) + key * (i + 1)) % 26])
            i += 1
        else:
            out.append(ch)
    return "".join(out)


def cipher_py() -> bytes:
    return f'''\
"""A toy cipher. CIPHERTEXT was produced by encrypt(plaintext, key) with a secret key in 1..25."""

ALPHABET = "abcdefghijklmnopqrstuvwxyz"


def encrypt(plaintext: str, key: int) -> str:
    out = []
    i = 0  # index of the letter among the letters seen so far
    for ch in plaintext:
        if ch in ALPHABET:
            shift = key * (i + 1)
            out.append(ALPHABET[(ALPHABET.index(ch) + shift) % 26])
            i += 1
        else:
            out.append(ch)
    return "".join(out)


CIPHERTEXT = "{_encrypt(CIPHER_PLAINTEXT, CIPHER_KEY)}"
'''.encode()


# -- driver -----------------------------------------------------------------------------------------

TEXT_FILES: dict[str, Callable[[], bytes]] = {
    "orders.csv": orders_csv,
    "products.json": products_json,
    "shop_data.zip": shop_zip,
    "weather.json": weather_json,
    "server.log": server_log,
    "story.txt": lambda: STORY.encode(),
    "settings.ini": lambda: SETTINGS.encode(),
    "mystery.py": lambda: MYSTERY.encode(),
    "cipher.py": cipher_py,
}
DB_FILES: dict[str, Callable[[Path], None]] = {"company.db": write_company_db}


def generate(out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, make in TEXT_FILES.items():
        (out_dir / name).write_bytes(make())
        written.append(out_dir / name)
    for name, write in DB_FILES.items():
        write(out_dir / name)
        written.append(out_dir / name)
    configparser.ConfigParser().read_string(SETTINGS)  # the .ini must stay parseable by the stdlib
    return written


def check(suite_dir: Path) -> list[str]:
    """Regenerate into a temp dir; return the names of attachments that differ from `suite_dir`."""
    with tempfile.TemporaryDirectory() as tmp:
        fresh = Path(tmp)
        generate(fresh)
        differ = [name for name in TEXT_FILES
                  if not (suite_dir / name).exists() or (suite_dir / name).read_bytes() != (fresh / name).read_bytes()]
        differ += [name for name in DB_FILES
                   if not (suite_dir / name).exists() or db_dump(suite_dir / name) != db_dump(fresh / name)]
    return differ


def main(argv: list[str]) -> int:
    if argv and argv[0] == "--check":
        target = Path(argv[1]) if len(argv) > 1 else HERE
        differ = check(target)
        for name in differ:
            print(f"differs from a fresh generation: {target / name}")
        print("attachments up to date" if not differ else f"{len(differ)} attachment(s) out of date")
        return 1 if differ else 0
    out = Path(argv[0]) if argv else HERE
    for path in generate(out):
        print(f"{path}  {path.stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
