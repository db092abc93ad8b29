"""The demo's electricity accounts: the same few hundred on every machine and every run.

A handful are well known (WELL_KNOWN, listed in docs/bizdata.md): the demo and the
tests speak them by number. The rest come from a seeded random generator, so a
benchmark looks up realistic, varied records. Seeding is idempotent: it adds what is
missing and puts the well-known accounts back to their documented values.
"""

from __future__ import annotations

import calendar
import random
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from ._engine import display_url, driver_message, open_engine
from ._errors import StoreError
from ._luhn import luhn_check_digit
from ._migrate import migrate
from ._models import Account, Customer

__all__ = ["GENERATED_ACCOUNTS", "WELL_KNOWN", "DemoAccount", "demo_accounts", "seed_demo"]

GENERATED_ACCOUNTS = 300
_SEED = 11  # the issue that brought the store


@dataclass(frozen=True)
class DemoAccount:
    account_number: str
    customer_name: str
    phone: str
    language: str
    service_address: str
    balance: Decimal
    due_date: date | None
    status: str = "active"
    last_payment_date: date | None = None
    last_payment_amount: Decimal | None = None


# The demo's callers (callcenter's DEMO_CALLERS, as the edge normalises them) own these.
WELL_KNOWN = (
    DemoAccount(
        "12345674",
        "张伟",
        "13912345678",
        "zh",
        "北京市朝阳区建国路88号3单元502室",
        Decimal("123.45"),
        date(2026, 12, 31),
        last_payment_date=date(2026, 11, 30),
        last_payment_amount=Decimal("200.00"),
    ),
    DemoAccount(
        "10000008",
        "李娜",
        "13800138000",
        "zh",
        "上海市浦东新区世纪大道100号12楼",
        Decimal("0.00"),
        date(2026, 12, 31),
        last_payment_date=date(2026, 11, 28),
        last_payment_amount=Decimal("86.50"),
    ),
    DemoAccount(
        "22222228",
        "王芳",
        "13700001111",
        "zh",
        "广州市天河区体育西路55号8栋1801",
        Decimal("356.20"),
        date(2026, 3, 31),
        status="suspended",
        last_payment_date=date(2025, 12, 15),
        last_payment_amount=Decimal("50.00"),
    ),
    DemoAccount(
        "88888888",
        "John Smith",
        "01088886666",
        "en",
        "No. 1 Guanghua Road, Chaoyang District, Beijing",
        Decimal("1234567.80"),
        date(2026, 6, 30),
        last_payment_date=date(2026, 5, 20),
        last_payment_amount=Decimal("10000.00"),
    ),
    DemoAccount(
        "99999997",
        "刘洋",
        "15011112222",
        "zh",
        "深圳市南山区科技园路1号",
        Decimal("0.00"),
        None,
        status="closed",
        last_payment_date=date(2025, 8, 31),
        last_payment_amount=Decimal("412.30"),
    ),
)

_SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜"
    "叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎"
)
# Given names are one or two of these.
_GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超英霞平刚华国庆晓丹鹏辉玲梅燕文斌宇浩婷雪佳怡涵欣轩然"
_ENGLISH = (
    "Emily Chen",
    "Michael Brown",
    "Sarah Johnson",
    "David Lee",
    "Anna Müller",
    "James Wilson",
    "Laura Garcia",
    "Thomas Martin",
)
# (Chinese, English) names of cities, their districts and roads.
_CITIES = (
    (
        ("北京市", "Beijing"),
        (("朝阳区", "Chaoyang"), ("海淀区", "Haidian"), ("东城区", "Dongcheng")),
    ),
    (("上海市", "Shanghai"), (("浦东新区", "Pudong"), ("徐汇区", "Xuhui"), ("静安区", "Jing'an"))),
    (("广州市", "Guangzhou"), (("天河区", "Tianhe"), ("越秀区", "Yuexiu"), ("海珠区", "Haizhu"))),
    (("深圳市", "Shenzhen"), (("南山区", "Nanshan"), ("福田区", "Futian"), ("罗湖区", "Luohu"))),
)
_ROADS = (
    ("建国路", "Jianguo"),
    ("人民路", "Renmin"),
    ("解放路", "Jiefang"),
    ("中山路", "Zhongshan"),
    ("长安街", "Chang'an"),
    ("新华路", "Xinhua"),
)


def demo_accounts() -> list[DemoAccount]:
    """Every demo account, the well-known ones first; the same list on every call."""
    rng = random.Random(_SEED)  # noqa: S311 (made-up demo data, no secret)
    taken = {a.account_number[:-1] for a in WELL_KNOWN}
    payloads = rng.sample(range(3_000_000, 8_000_000), GENERATED_ACCOUNTS + len(taken))
    fresh = [str(p) for p in payloads if str(p) not in taken][:GENERATED_ACCOUNTS]
    return [*WELL_KNOWN, *(_generated(rng, payload) for payload in fresh)]


def _generated(rng: random.Random, payload: str) -> DemoAccount:
    english = rng.random() < 0.1
    (city, city_en), districts = rng.choice(_CITIES)
    (district, district_en), (road, road_en) = rng.choice(districts), rng.choice(_ROADS)
    number, building, flat = rng.randint(1, 300), rng.randint(1, 30), rng.randint(101, 2802)
    if english:
        name = rng.choice(_ENGLISH)
        address = f"Flat {flat}, Building {building}, No. {number} {road_en} Road, "
        address += f"{district_en} District, {city_en}"
    else:
        given = "".join(rng.choice(_GIVEN) for _ in range(rng.randint(1, 2)))
        name = rng.choice(_SURNAMES) + given
        address = f"{city}{district}{road}{number}号{building}栋{flat}室"
    roll = rng.random()
    status = "active" if roll < 0.9 else ("suspended" if roll < 0.97 else "closed")
    balance = Decimal(0) if rng.random() < 0.15 else Decimal(rng.randint(100, 250_000)) / 100
    month = rng.randint(1, 12)
    due = date(2026, month, calendar.monthrange(2026, month)[1])
    paid_on = date(2026 if month > 1 else 2025, month - 1 if month > 1 else 12, rng.randint(1, 28))
    return DemoAccount(
        account_number=payload + luhn_check_digit(payload),
        customer_name=name,
        phone=f"1{rng.choice('3578')}{rng.randint(0, 999_999_999):09d}",
        language="en" if english else "zh",
        service_address=address,
        balance=balance.quantize(Decimal("0.01")),
        due_date=None if status == "closed" else due,
        status=status,
        last_payment_date=paid_on,
        last_payment_amount=(Decimal(rng.randint(1_000, 60_000)) / 100).quantize(Decimal("0.01")),
    )


def seed_demo(url: str, *, password_env: str | None = None) -> int:
    """Migrate the store at `url`, add the demo accounts it lacks and put the
    well-known ones back to their documented values; return how many were added."""
    migrate(url, password_env=password_env)
    engine = open_engine(url, password_env=password_env)
    wanted = demo_accounts()
    well_known = {a.account_number for a in WELL_KNOWN}
    try:
        with Session(engine) as session, session.begin():
            numbers = [a.account_number for a in wanted]
            existing = {
                account.account_number: account
                for account in session.scalars(
                    select(Account).where(Account.account_number.in_(numbers))
                )
            }
            added = 0
            for demo in wanted:
                account = existing.get(demo.account_number)
                if account is None:
                    session.add(_new_account(demo))
                    added += 1
                elif demo.account_number in well_known:
                    _restore(account, demo)
    except SQLAlchemyError as exc:
        raise StoreError(f"{display_url(url)}: seeding failed: {driver_message(exc)}") from exc
    finally:
        engine.dispose()
    return added


def _new_account(demo: DemoAccount) -> Account:
    customer = Customer(name=demo.customer_name, phone=demo.phone, language=demo.language)
    account = Account(account_number=demo.account_number, customer=customer)
    _restore(account, demo)
    return account


def _restore(account: Account, demo: DemoAccount) -> None:
    account.service_address = demo.service_address
    account.balance = demo.balance
    account.due_date = demo.due_date
    account.status = demo.status
    account.last_payment_date = demo.last_payment_date
    account.last_payment_amount = demo.last_payment_amount
    account.customer.name = demo.customer_name
    account.customer.phone = demo.phone
    account.customer.language = demo.language
