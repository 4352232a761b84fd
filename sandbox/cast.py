"""Who plays in the sandbox: demo residents and staff, and the staff's Telegram groups.

These are data, with fixed Telegram ids, so that the demo database (sandbox/demo.py) and the
emulator's accounts (sandbox/run.py) name the same people. Nothing here knows Telegram.
"""

from __future__ import annotations

from dataclasses import dataclass

PROVINCE = "01"  # Hà Nội


@dataclass(frozen=True)
class Person:
    key: str
    telegram_id: int
    first_name: str
    last_name: str | None
    language: str  # Telegram's language_code
    role: str | None = None  # None: a resident; else a storage.models.Role value
    agencies: tuple[str, ...] = ()  # agency staff: the agencies they work for
    ward: str | None = None  # residents set up in the demo data: their ward; None: never started the bot
    about_vi: str = ""
    about_en: str = ""
    # Once someone who never used the bot (no ward) has written to it, `about` no longer says so.
    started_vi: str = ""
    started_en: str = ""

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}" if self.last_name else self.first_name

    def about(self, language: str, started: bool = False) -> str:
        if started and self.started_vi:
            return self.started_en if language == "en" else self.started_vi
        return self.about_en if language == "en" else self.about_vi


@dataclass(frozen=True)
class Group:
    key: str
    chat_id: int
    title: str
    members: tuple[str, ...]  # Person keys
    agency: str | None = None  # None: the moderators' group


LAN = Person("lan", 810000001, "Lan", "Nguyễn", "vi", ward="00004",
             about_vi="Người dân phường Ba Đình, đã gửi vài phản ánh",
             about_en="A resident of Ba Đình ward with a few reports")
TOM = Person("tom", 810000002, "Tom", "Baker", "en", ward="00070",
             about_vi="Người dân nói tiếng Anh ở phường Hoàn Kiếm",
             about_en="An English-speaking resident of Hoàn Kiếm ward")
HOA = Person("hoa", 810000003, "Hoa", "Trần", "vi",
             about_vi="Chưa từng dùng bot: bắt đầu bằng /start",
             about_en="Has never used the bot: begin with /start",
             started_vi="Cư dân mới: vừa bắt đầu dùng bot",
             started_en="A new resident: has just started using the bot")
HUNG = Person("hung", 820000001, "Hùng", "Lê", "vi", role="moderator",
              about_vi="Kiểm duyệt viên: phân loại phản ánh mới",
              about_en="Moderator: triages new reports")
MAI = Person("mai", 820000002, "Mai", "Phạm", "vi", role="agency_staff", agencies=("hn-urenco",),
             about_vi="Cán bộ URENCO: xử lý phản ánh vệ sinh môi trường",
             about_en="URENCO staff: handles sanitation reports")
DUNG = Person("dung", 820000003, "Dũng", "Đỗ", "vi", role="agency_staff", agencies=("hn-so-gtvt",),
              about_vi="Cán bộ Sở Giao thông vận tải: xử lý phản ánh về đường sá",
              about_en="Department of Transport staff: handles road reports")
AN = Person("an", 820000004, "An", "Hoàng", "vi", role="admin",
            about_vi="Quản trị viên: gửi cảnh báo, mở bảng điều khiển",
            about_en="Administrator: sends alerts, opens the dashboard")

# So that a report of any category, anywhere in the central wards, reaches a group with someone in it.
THAO = Person("thao", 820000005, "Thảo", "Vũ", "vi", role="agency_staff",
              agencies=("hn-so-xay-dung", "hn-cong-an", "hn-ban-attp", "hn-so-y-te", "hn-ubnd",
                        "hn-ubnd-ba-dinh", "hn-ubnd-hoan-kiem"),
              about_vi="Cán bộ của các cơ quan khác: mỗi cơ quan một nhóm",
              about_en="Staff of the other agencies: one group each")

RESIDENTS = (LAN, TOM, HOA)
STAFF = (HUNG, MAI, DUNG, AN, THAO)
PEOPLE = RESIDENTS + STAFF

MODERATORS = Group("moderators", -1001000000101, "Loa — Kiểm duyệt phản ánh", ("hung", "an"))
URENCO = Group("urenco", -1001000000102, "URENCO — Phản ánh", ("mai",), agency="hn-urenco")
TRANSPORT = Group("transport", -1001000000103, "Sở GTVT — Phản ánh", ("dung",), agency="hn-so-gtvt")
OTHERS = tuple(Group(f"agency-{code}", -1001000000110 - n, title, ("thao",), agency=code) for n, (code, title) in
               enumerate((("hn-so-xay-dung", "Sở Xây dựng — Phản ánh"), ("hn-cong-an", "Công an TP — Phản ánh"),
                          ("hn-ban-attp", "Ban ATTP — Phản ánh"), ("hn-so-y-te", "Sở Y tế — Phản ánh"),
                          ("hn-ubnd", "VP UBND TP — Phản ánh"), ("hn-ubnd-ba-dinh", "UBND P. Ba Đình — Phản ánh"),
                          ("hn-ubnd-hoan-kiem", "UBND P. Hoàn Kiếm — Phản ánh"))))
GROUPS = (MODERATORS, URENCO, TRANSPORT, *OTHERS)

# The demo's other residents (reports and subscriptions for the statistics and the broadcast)
# have ids from here up; they are nobody's persona, and the emulator takes them as users who
# started the bot.
EXTRA_RESIDENTS_FROM = 830000001


def person(key: str) -> Person:
    return next(p for p in PEOPLE if p.key == key)
