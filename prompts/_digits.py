"""Phone, account and ticket numbers are said digit by digit, not as quantities.

"13800138000" is a mobile number: a caller expects "幺三八零零幺三八零零零" (one three
eight...), not "一百三十八亿..." as a number reader says it. A run of digits is an
identifier when it is long (7 or more digits) or starts with 0 (010..., 0086...) and
is not an amount: amounts (followed by 元/块, or with a decimal part) stay numbers.
Digit groups joined by hyphens (400-820-8820, 010-1234) are one identifier, said
with a pause at each hyphen; a number reader would hear "-1234" as negative.
"""

from __future__ import annotations

import re
from typing import Final

# 7+ digits, 0 and 2+ digits, or hyphenated groups; not inside a decimal ("3.1415926"), not a
# thousands group ("1,034,567": "034" is not a number of its own) and not an amount
# ("12345678元", "1234567.5元").
_IDENTIFIER: Final = re.compile(
    r"(?<!\d)(?<!\d\.)(?<!\d,)(?:\d+(?:-\d+)+|\d{7,}|0\d{2,})(?!\d)(?!\.\d)(?!\s*[元块])"
)

# In Mandarin digit strings 1 is said 幺 (yao1), as on the phone, so it is not
# heard as 七; 0 is 零.
MANDARIN_DIGITS: Final = str.maketrans("0123456789", "零幺二三四五六七八九")


def spell_digit_strings(text: str, language: str) -> str:
    """`text` with every identifier-like digit run spelled digit by digit.

    Mandarin: Chinese digit characters (then no number reader touches them).
    English: digits separated by spaces, which espeak-ng reads one by one.
    """
    if language == "zh":
        return _IDENTIFIER.sub(lambda m: m[0].translate(MANDARIN_DIGITS).replace("-", ","), text)
    return _IDENTIFIER.sub(lambda m: ", ".join(" ".join(group) for group in m[0].split("-")), text)
