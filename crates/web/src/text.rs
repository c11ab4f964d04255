//! The words of the pages in Korean and English. One struct holds every string, so a page
//! cannot use a word one language lacks: the compiler checks both catalogues are whole.

/// A language of the pages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    Ko,
    En,
}

impl Lang {
    /// The `lang` attribute and the cookie's value.
    pub fn code(self) -> &'static str {
        match self {
            Lang::Ko => "ko",
            Lang::En => "en",
        }
    }

    pub fn parse(code: &str) -> Option<Lang> {
        match code {
            "ko" => Some(Lang::Ko),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    /// The chosen language (the cookie), else the browser's first preference of the two,
    /// else Korean (the platform's home market).
    pub fn choose(cookie: Option<&str>, accept_language: Option<&str>) -> Lang {
        if let Some(lang) = cookie.and_then(Lang::parse) {
            return lang;
        }
        let preferred = accept_language.unwrap_or("").split(',').find_map(|part| {
            let tag = part.split(';').next().unwrap_or("").trim();
            let primary = tag.split('-').next().unwrap_or("").to_ascii_lowercase();
            Lang::parse(&primary)
        });
        preferred.unwrap_or(Lang::Ko)
    }

    pub fn text(self) -> &'static Text {
        match self {
            Lang::Ko => &KO,
            Lang::En => &EN,
        }
    }

    /// The other language (the switch in the page's header).
    pub fn other(self) -> Lang {
        match self {
            Lang::Ko => Lang::En,
            Lang::En => Lang::Ko,
        }
    }
}

macro_rules! catalogue {
    ($($key:ident: $en:literal, $ko:literal;)*) => {
        /// Every string of the pages.
        pub struct Text { $(pub $key: &'static str,)* }
        impl Text {
            /// Every string, in the catalogue's order.
            pub fn words(&self) -> Vec<&'static str> { vec![$(self.$key,)*] }
        }
        pub const EN: Text = Text { $($key: $en,)* };
        pub const KO: Text = Text { $($key: $ko,)* };
    };
}

catalogue! {
    language_name: "English", "한국어";
    skip_to_content: "Skip to content", "본문으로 건너뛰기";
    switch_language: "한국어", "English";
    tagline: "Your mileage and points, one balance you can spend.", "흩어진 마일리지와 포인트를 하나로, 바로 결제까지.";
    sign_up: "Sign up", "가입하기";
    log_in: "Log in", "로그인";
    log_out: "Log out", "로그아웃";
    phone: "Mobile phone number", "휴대폰 번호";
    phone_hint: "Digits only, e.g. 01012345678", "숫자만 입력 (예: 01012345678)";
    send_code: "Send the code", "인증번호 받기";
    code: "Verification code", "인증번호";
    code_sent: "We sent a 6-digit code by SMS.", "문자로 6자리 인증번호를 보냈습니다.";
    demo_code: "Demo: the SMS outbox says the code is", "데모: SMS 발송함의 인증번호는";
    name: "Name", "이름";
    pin: "PIN (6 digits)", "비밀번호 (숫자 6자리)";
    create_account: "Create my account", "계정 만들기";
    new_device: "This browser is new to your account: confirm with the code we sent by SMS.", "처음 사용하는 기기입니다. 문자로 받은 인증번호로 확인해 주세요.";
    confirm: "Confirm", "확인";
    home: "Home", "홈";
    pay: "Pay", "결제";
    history: "History", "내역";
    memberships: "Memberships", "멤버십";
    balance: "Balance", "잔액";
    available: "available", "사용 가능";
    pending: "on hold", "승인 대기";
    no_links: "No membership linked yet.", "연결된 멤버십이 없습니다.";
    link_membership: "Link a membership", "멤버십 연결";
    partner: "Partner", "제휴사";
    membership_number: "Membership number", "회원번호";
    link_explain: "You will sign in at the partner to prove the membership is yours.", "제휴사에 로그인하여 본인의 멤버십임을 확인합니다.";
    continue_to_partner: "Continue at the partner", "제휴사에서 계속하기";
    linked: "Membership linked.", "멤버십이 연결되었습니다.";
    mileage: "Mileage", "마일리지";
    mileage_unknown: "mileage unavailable", "마일리지 조회 불가";
    exchange: "Exchange", "전환";
    exchange_to_mvp: "Exchange mileage to MVP", "마일리지를 MVP로 전환";
    rate: "Rate", "전환 비율";
    minimum_unit: "in steps of", "최소 단위";
    see_amount: "See the amount", "전환 금액 보기";
    you_get: "You get", "받으실 MVP";
    you_give: "You give", "차감될 마일리지";
    confirm_exchange: "Confirm the exchange", "전환 확정";
    exchange_done: "Exchanged.", "전환되었습니다.";
    exchange_waiting: "The partner has not answered yet; the exchange finishes by itself.", "제휴사 응답을 기다리는 중입니다. 자동으로 완료됩니다.";
    back_home: "Back to home", "홈으로";
    pay_title: "Show this at the till", "매장에서 이 코드를 보여주세요";
    pay_expires_in: "Renews in", "갱신까지";
    seconds: "s", "초";
    pay_paid: "Paid", "결제 완료";
    pay_again: "New code", "새 코드";
    recent: "Recent activity", "최근 내역";
    no_history: "Nothing yet.", "아직 내역이 없습니다.";
    all_reasons: "All", "전체";
    filter: "Filter", "필터";
    reason: "Reason", "구분";
    amount: "Amount", "금액";
    when: "When", "일시";
    balance_after: "Balance after", "거래 후 잔액";
    verify: "Verify", "검증";
    verify_title: "Is it in the ledger?", "원장에 기록되었나요?";
    verify_explain: "Your browser checks the inclusion proof of this transaction against the ledger's signed checkpoint, with its own cryptography.", "브라우저가 직접 이 거래의 포함 증명을 원장의 서명된 체크포인트와 대조하여 검증합니다.";
    verify_running: "Checking…", "검증 중…";
    verify_ok: "Verified: this transaction is in the ledger, under the checkpoint signed by the operator.", "검증 완료: 이 거래는 운영자가 서명한 체크포인트 아래 원장에 기록되어 있습니다.";
    verify_failed: "Not verified", "검증 실패";
    transfer: "Transfer", "거래";
    tree_size: "Checkpoint size", "체크포인트 크기";
    root_hash: "Root hash", "루트 해시";
    more: "More", "더 보기";
    reason_exchange: "Exchange", "전환";
    reason_payment: "Payment", "결제";
    reason_refund: "Refund", "환불";
    reason_voucher: "Gift voucher", "상품권";
    reason_other: "Other", "기타";
    till: "Till", "결제 단말";
    till_setup: "Set up this till", "단말 설정";
    terminal_id: "Terminal id", "단말 ID";
    terminal_secret: "Terminal secret", "단말 비밀키";
    till_save: "Use this terminal", "이 단말 사용";
    till_forget: "Forget this terminal", "단말 정보 삭제";
    scanned_code: "Scanned or typed code", "스캔 또는 입력한 코드";
    charge: "Charge", "결제 요청";
    approved: "Approved", "승인";
    declined: "Declined", "거절";
    cancel_payment: "Cancel", "취소";
    refund: "Refund", "환불";
    cancelled: "Cancelled", "취소됨";
    till_explain: "Signs each request with the terminal's key, as a VAN terminal does.", "VAN 단말처럼 요청마다 단말 키로 서명합니다.";
    refused: "Refused", "거부됨";
    reload: "Reload", "새로고침";
    not_found: "There is no such page.", "페이지를 찾을 수 없습니다.";
    won: "MVP", "MVP";
    console: "Console", "운영 콘솔";
    operator_login: "Login", "아이디";
    password: "Password", "비밀번호";
    authenticator_code: "Authenticator code", "인증 앱 코드";
    demo_authenticator: "Demo: the operators' current codes", "데모: 운영자별 현재 인증 코드";
    dashboard: "Dashboard", "대시보드";
    members_section: "Members", "회원";
    settlements: "Settlements", "정산";
    audit_log: "Audit log", "감사 로그";
    ledger_health: "Ledger", "원장";
    mvp_issued: "MVP issued", "발행된 MVP";
    mvp_outstanding: "MVP outstanding", "유통 중인 MVP";
    mvp_converted: "MVP converted to MVC", "MVC로 전환된 MVP";
    exchanges_by_partner: "MVP issued by partner, last 30 days", "최근 30일 제휴사별 발행 MVP";
    search_phone: "Find a member by phone", "전화번호로 회원 찾기";
    find: "Find", "찾기";
    lock: "Lock", "잠금";
    unlock: "Unlock", "잠금 해제";
    locked: "Locked", "잠김";
    active: "Active", "정상";
    status: "Status", "상태";
    run_settlement: "Run a settlement up to now", "지금까지 정산 실행";
    mark_paid: "Mark paid", "지급 완료 처리";
    download_csv: "Download CSV", "CSV 다운로드";
    merchant: "Merchant", "가맹점";
    gross: "Gross", "총액";
    fee: "Fee", "수수료";
    net: "Net", "지급액";
    until: "Up to", "기준 시각";
    chain_head: "Signed checkpoint", "서명된 체크포인트";
    last_anchor: "Last anchor on Ethereum", "최근 이더리움 앵커";
    none_yet: "none yet", "아직 없음";
    actor: "Who", "수행자";
    action: "What", "작업";
    role: "Role", "역할";
    forbidden: "Your role may not see this page.", "이 역할로는 볼 수 없는 페이지입니다.";
    no_settlements: "No settlement run yet.", "정산 내역이 없습니다.";
    settled: "Settlement run made.", "정산이 실행되었습니다.";
    merchant_portal: "Merchant portal", "가맹점 포털";
    partner_portal: "Partner portal", "제휴사 포털";
    partners_section: "Partners", "제휴사";
    merchants_section: "Merchants", "가맹점";
    terminals: "Terminals", "단말기";
    brand: "Brand", "브랜드";
    disabled: "disabled", "사용 중지";
    payments_csv: "Payments, 30 days (CSV)", "결제 내역 30일 (CSV)";
    exchanges_csv: "Exchanges, 30 days (CSV)", "전환 내역 30일 (CSV)";
    partner_paid: "MVP paid for", "정산 완료 MVP";
    partner_owes: "MVP owed", "미정산 MVP";
    terms: "Terms", "제휴 조건";
    daily_limit: "Daily limit per member", "회원당 일 한도";
    monthly_limit: "Monthly limit per member", "회원당 월 한도";
    credit_line: "Credit line", "신용 한도";
    download_statement: "Download the statement (CSV)", "거래 명세서 다운로드 (CSV)";
    vouchers: "Gift vouchers", "모바일 상품권";
    sponsored: "Sponsored", "광고";
    learn_more: "Learn more", "자세히 보기";
    ads: "Ads", "광고";
    campaign: "Campaign", "캠페인";
    impressions: "Impressions", "노출";
    clicks: "Clicks", "클릭";
    spent: "Spent", "집행액";
    remaining: "Remaining", "잔여 예산";
    budget: "Budget", "예산";
    new_campaign: "New campaign", "새 캠페인";
    advertiser: "Advertiser", "광고주";
    headline: "Headline", "제목";
    ad_body: "Text", "본문";
    link_url: "Link", "링크";
    price_per_impression: "Price per impression (MVP)", "노출당 단가 (MVP)";
    price_per_click: "Price per click (MVP)", "클릭당 단가 (MVP)";
    frequency_cap: "Views per member per day", "회원당 일일 노출 한도";
    create: "Create", "만들기";
    campaign_made: "Campaign created and funded.", "캠페인이 만들어지고 예산이 충전되었습니다.";
    voucher_shop: "Buy with MVP", "MVP로 구매";
    my_vouchers: "My vouchers", "내 상품권";
    price: "price", "가격";
    buy: "Buy", "구매";
    cancel_voucher: "Cancel and refund", "취소하고 환불받기";
    payments: "Payments", "결제 내역";
    stores: "Stores", "매장";
    approval_no: "Approval no.", "승인번호";
    captured: "Captured", "매입";
    paid_out: "paid out", "지급일";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_language_is_the_cookie_then_the_browser_then_korean() {
        let cases = [
            (Some("en"), Some("ko-KR"), Lang::En),
            (Some("ko"), Some("en"), Lang::Ko),
            (Some("fr"), Some("en-US,en;q=0.9"), Lang::En),
            (None, Some("fr-FR, en;q=0.8, ko;q=0.5"), Lang::En),
            (None, Some("ko-KR,ko;q=0.9"), Lang::Ko),
            (None, Some("fr"), Lang::Ko),
            (None, None, Lang::Ko),
        ];
        for (cookie, header, lang) in cases {
            assert_eq!(Lang::choose(cookie, header), lang, "{cookie:?} {header:?}");
        }
    }

    #[test]
    fn both_catalogues_say_something_everywhere() {
        // Every field is there by construction; none may be left empty or untrimmed.
        for word in EN.words().into_iter().chain(KO.words()) {
            assert!(!word.is_empty() && word.trim() == word, "{word:?}");
        }
    }
}
