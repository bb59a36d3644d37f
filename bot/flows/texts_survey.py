"""What the revisit survey (回访) says to customers: apart from ``texts.py`` to keep each file
readable; merged into its tables there (简体 is the source, 繁體 is converted from it)."""

from __future__ import annotations

SURVEY_ZH: dict[str, str] = {
    "survey_intro": "您好!关于您的投诉 {number},想请您花一分钟做个回访。",
    "survey_reminder": "您好!关于投诉 {number} 的回访还没有完成,方便时请点选回答。",
    "survey_q_solved": "问题是否得到解决?",
    "survey_q_solution": "您对解决方案是否满意?(1 很不满意 … 5 很满意)",
    "survey_q_service": "整体服务体验如何?(1 很差 … 5 很好)",
    "survey_q_comment": "还有什么想对我们说的吗?直接回复文字即可,或点「跳过」。",
    "btn_survey_yes": "是",
    "btn_survey_no": "否",
    "btn_survey_skip": "跳过",
    "survey_thanks": "感谢您的回访意见!",
    "survey_reopened": (
        "很抱歉没有让您满意。投诉 {number} 已重新处理,由{level}跟进,我们将在 {due} 前给您答复。"
    ),
    "survey_done": "投诉 {number} 的回访已经完成,感谢您!",
    "survey_closed": "这次回访已经结束,如有新的问题,直接发消息给我们即可。",
}

SURVEY_EN: dict[str, str] = {
    "survey_intro": "Hello! About your complaint {number}: may we ask you three quick questions?",
    "survey_reminder": (
        "Hello! The short survey about complaint {number} is still open; please answer when "
        "convenient."
    ),
    "survey_q_solved": "Was the problem solved?",
    "survey_q_solution": "How satisfied are you with the solution? (1 not at all … 5 very)",
    "survey_q_service": "How was our service overall? (1 poor … 5 very good)",
    "survey_q_comment": "Anything else you would like to tell us? Just write, or tap Skip.",
    "btn_survey_yes": "Yes",
    "btn_survey_no": "No",
    "btn_survey_skip": "Skip",
    "survey_thanks": "Thank you for your answers!",
    "survey_reopened": (
        "We are sorry. Complaint {number} is being handled again by the {level}; we will "
        "answer you by {due}."
    ),
    "survey_done": "The survey about complaint {number} is complete. Thank you!",
    "survey_closed": "This survey has ended. If anything new comes up, just write to us.",
}
