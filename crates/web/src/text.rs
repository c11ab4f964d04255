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
    reason_transfer: "Transfer", "송금";
    reason_conversion: "To MVC", "MVC 전환";
    reason_bonus: "Bonus", "보너스";
    reason_cashback: "Cashback", "캐시백";
    reason_clawback: "Cashback taken back", "캐시백 회수";
    reason_tip: "Tip", "후원";
    reason_tip_fee: "Tip (platform's share)", "후원 (플랫폼 몫)";
    reason_creator_reward: "Creator reward", "크리에이터 보상";
    creators_title: "Creators", "크리에이터";
    creators_one: "Creator", "크리에이터";
    creators_search: "Search by name", "이름으로 검색";
    creators_search_submit: "Search", "검색";
    creators_none: "No creators found.", "크리에이터가 없습니다.";
    creators_platform: "Platform", "플랫폼";
    creators_contents: "Contents", "콘텐츠";
    creators_no_contents: "No contents yet.", "아직 콘텐츠가 없습니다.";
    creators_tip_title: "Tip this creator", "이 크리에이터 후원하기";
    creators_tip_explain: "30 % of a tip goes to the platform and 70 % to the creator (the creator gets the odd won).", "후원금의 30 %는 플랫폼, 70 %는 크리에이터에게 갑니다 (끝전은 크리에이터에게).";
    creators_amount: "Amount (MVP)", "금액 (MVP)";
    creators_amount_invalid: "Type a whole number of MVP, at least 1.", "1 MVP 이상의 정수를 입력하세요.";
    creators_memo: "Message (optional)", "메시지 (선택)";
    creators_pin: "PIN (asked above 100,000 MVP)", "PIN (100,000 MVP 초과 시 필요)";
    creators_tip_submit: "Tip", "후원하기";
    creators_tipped_notice: "Tipped. Thank you!", "후원했습니다. 감사합니다!";
    creators_section: "Creator pools", "크리에이터 보상 풀";
    creators_done: "Done.", "완료했습니다.";
    creators_period: "Period (KST month)", "기간 (KST 월)";
    creators_status: "Status", "상태";
    creators_funded: "Funded (MVP)", "적립 (MVP)";
    creators_remaining: "Left (MVP)", "잔액 (MVP)";
    creators_distributed: "Paid (MVP)", "지급 (MVP)";
    creators_distribute: "Distribute", "분배";
    creators_fund_title: "Fund a pool from ad revenue", "광고 수익으로 보상 풀 적립";
    creators_fund_amount: "Amount (MVP)", "금액 (MVP)";
    creators_reference: "Reference", "참조";
    creators_fund: "Fund", "적립";
    creators_new_platform: "Register a content platform", "콘텐츠 플랫폼 등록";
    creators_platform_name: "Name", "이름";
    creators_register: "Register", "등록";
    creators_platform_key: "The platform's key and secret (shown once)", "플랫폼 키와 비밀키 (한 번만 표시)";
    reason_trading_reward: "Trading reward", "거래 리워드";
    promotions_section: "Promotions", "프로모션";
    promotions_done: "Done.", "완료했습니다.";
    promotions_name: "Name", "이름";
    promotions_rule: "Rule", "규칙";
    promotions_period: "Period", "기간";
    promotions_funded: "Funded (MVP)", "예산 (MVP)";
    promotions_remaining: "Left (MVP)", "잔액 (MVP)";
    promotions_granted: "Granted (MVP)", "지급 (MVP)";
    promotions_clawed_back: "Taken back (MVP)", "회수 (MVP)";
    promotions_fund_amount: "Fund (MVP)", "충전 (MVP)";
    promotions_reference: "Reference", "참조";
    promotions_fund: "Fund", "충전";
    promotions_end: "End now", "지금 종료";
    promotions_ended: "Ended", "종료됨";
    promotions_actions: "Fund or end", "충전 또는 종료";
    promotions_new: "New promotion", "새 프로모션";
    promotions_cashback: "Cashback (bps) at a brand", "브랜드 캐시백 (bps)";
    promotions_signup: "Sign-up bonus (MVP per wallet)", "가입 보너스 (지갑당 MVP)";
    promotions_trading: "Trading reward (bps of each conversion)", "거래 리워드 (전환당 bps)";
    promotions_value: "Rate in bps, or MVP per wallet", "bps 비율 또는 지갑당 MVP";
    promotions_brand: "Brand (cashback)", "브랜드 (캐시백)";
    promotions_wallets: "First N wallets (sign-up)", "선착순 지갑 수 (가입)";
    promotions_days: "Days from now", "오늘부터 일수";
    promotions_create: "Create", "만들기";
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
    // The console's dashboard charts and ledger health.
    exchanges_per_day: "MVP issued per day (exchanges), last 30 days", "최근 30일 일별 발행 MVP (교환)";
    payments_per_day: "MVP paid per day (payments), last 30 days", "최근 30일 일별 결제 MVP";
    outstanding_against_converted: "MVP outstanding and MVP converted to MVC", "유통 중 MVP와 MVC 전환 MVP";
    mvc_circulating: "MVC circulating", "유통 중 MVC";
    top_partners: "Top partners, last 30 days", "최근 30일 상위 제휴사";
    top_merchants: "Top stores, last 30 days", "최근 30일 상위 가맹점";
    count: "Count", "건수";
    last_verify: "Last verification of the whole ledger", "최근 전체 원장 검증";
    verify_now: "Verify the ledger now", "지금 원장 검증";
    verified_ok: "verified", "검증됨";
    ledger_verify_failed: "DID NOT VERIFY", "검증 실패";
    blocks: "blocks", "블록";
    last_reconciliation: "Last reconciliation (matched / checked)", "최근 대사 (일치 / 확인)";
    reconcile_week: "Reconcile the last 7 days", "최근 7일 대사";
    reconciled: "Reconciliation done.", "대사가 완료되었습니다.";
    problems: "problems", "불일치";
    reconciliations: "Reconciliations with your record", "귀사 기록과의 대사";
    period: "Period", "기간";
    checked: "Checked", "확인";
    matched: "Matched", "일치";
    unanswered: "Unanswered", "무응답";
    mismatched: "Mismatched", "불일치";
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
    prepaid_left: "Prepaid, left", "선불 잔액";
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
    // The MVC wallet and MVP → MVC conversions (member/wallet.rs).
    wallet: "MVC wallet", "MVC 지갑";
    wallet_address: "Your Ethereum address", "내 이더리움 주소";
    wallet_no_address: "No address registered yet.", "등록된 주소가 없습니다.";
    wallet_proved_at: "Proved yours on", "소유 확인 일시";
    wallet_register: "Register an address", "주소 등록";
    wallet_replace: "Register another address (it replaces this one)", "다른 주소 등록 (지금 주소를 대신합니다)";
    wallet_how: "You prove an address is yours by signing a message with its key, on your own device. The message reads:", "주소의 키로 메시지에 서명하여 본인 주소임을 증명합니다. 서명은 본인 기기에서 합니다. 메시지는 다음과 같습니다:";
    wallet_cli_new: "No wallet yet? Make one on your device with", "지갑이 없다면 기기에서 다음 명령으로 만드세요:";
    wallet_cli_show: "its address:", "주소 보기:";
    wallet_address_label: "Ethereum address", "이더리움 주소";
    wallet_show_message: "Show the message to sign", "서명할 메시지 보기";
    wallet_sign_this: "Sign exactly this message with this address's key:", "이 주소의 키로 아래 메시지에 그대로 서명하세요:";
    wallet_sign_cli: "With the Mileverse wallet on your device, this command prints the signature:", "기기의 Mileverse 지갑에서는 다음 명령이 서명을 출력합니다:";
    wallet_sign_other: "Any wallet that signs messages as Ethereum does (EIP-191, personal_sign) works too.", "이더리움 방식(EIP-191, personal_sign)으로 메시지에 서명하는 다른 지갑도 쓸 수 있습니다.";
    wallet_paste: "Paste the signature (0x and 130 hexadecimal digits) below.", "서명(0x와 16진수 130자리)을 아래에 붙여 넣으세요.";
    wallet_signature: "Signature", "서명";
    wallet_register_submit: "Register this address", "이 주소 등록";
    wallet_other_address: "Use another address", "다른 주소 사용";
    wallet_registered: "Address registered.", "주소가 등록되었습니다.";
    wallet_bad_signature: "The signature must be made with this address's key, over exactly the message shown.", "서명은 이 주소의 키로, 표시된 메시지 그대로에 대해 만들어야 합니다.";
    wallet_hex_hint: "An address is 0x and 40 hexadecimal digits; a signature is 0x and 130.", "주소는 0x와 16진수 40자리, 서명은 0x와 16진수 130자리입니다.";
    wallet_unavailable: "MVC conversions are not available", "MVC 전환을 사용할 수 없습니다";
    wallet_no_chain: "This server runs without an Ethereum chain, so addresses cannot be registered and MVP cannot be converted to MVC here.", "이 서버는 이더리움 체인 없이 운영되므로 주소 등록과 MVP의 MVC 전환을 할 수 없습니다.";
    wallet_convert: "Convert MVP to MVC", "MVP를 MVC로 전환";
    wallet_sent_to: "Sent to", "받을 주소";
    wallet_register_first: "Register an address first: the MVC is sent there.", "먼저 주소를 등록하세요. MVC는 그 주소로 보내집니다.";
    wallet_convert_amount: "MVP to convert", "전환할 MVP";
    wallet_convert_submit: "Convert", "전환하기";
    wallet_convert_explain: "Your MVP is held until the chain confirms the MVC was sent; if it cannot be sent, the MVP comes back.", "체인에서 MVC 전송이 확인될 때까지 MVP가 보류되며, 보낼 수 없으면 MVP가 돌아옵니다.";
    wallet_amount_invalid: "Enter a whole number of MVP, at least the smallest conversion.", "최소 전환 금액 이상의 MVP를 정수로 입력하세요.";
    wallet_conversions: "My conversions", "내 전환 내역";
    wallet_conversion: "Conversion to MVC", "MVC 전환";
    wallet_status_requested: "On its way to the chain", "체인으로 전송 중";
    wallet_status_completed: "Completed", "완료";
    wallet_status_failed: "Failed: the MVP is back", "실패: MVP가 돌아왔습니다";
    wallet_waiting: "The chain has not confirmed it yet; it finishes by itself.", "아직 체인에서 확인되지 않았습니다. 자동으로 완료됩니다.";
    wallet_rate: "MVP per MVC", "1 MVC당 MVP";
    wallet_asked_at: "Asked", "요청 일시";
    wallet_finished_at: "Finished", "완료 일시";
    wallet_failure: "Why", "사유";
    wallet_transaction: "Transaction", "트랜잭션";
    wallet_block: "Block", "블록";
    wallet_back: "Back to the wallet", "지갑으로";
    payments: "Payments", "결제 내역";
    stores: "Stores", "매장";
    approval_no: "Approval no.", "승인번호";
    captured: "Captured", "매입";
    paid_out: "paid out", "지급일";
    // The portals' terminals (merchant.rs) and the partner's exchanges (partner.rs).
    portal_terminal_created: "Terminal created", "단말기가 등록되었습니다";
    portal_terminal_credentials: "The new terminal's key", "새 단말기 키";
    portal_secret_once: "Copy the secret now and keep it safe: it is shown this once and never again.", "비밀키를 지금 복사해 안전하게 보관하세요. 이번 한 번만 표시되며 다시 볼 수 없습니다.";
    portal_key_id: "Key id", "키 ID";
    portal_created: "Created", "등록일";
    portal_terminal_actions: "Change", "변경";
    portal_disable: "Disable", "사용 중지";
    portal_enable: "Enable", "사용 재개";
    portal_new_terminal: "New terminal", "새 단말기 등록";
    portal_no_terminals: "No terminal yet.", "등록된 단말기가 없습니다.";
    portal_back_to_terminals: "Back to the terminals", "단말기 목록으로";
    portal_exchanges: "Exchanges", "전환 내역";
    portal_exchanges_period: "Exchanges of the last 30 days, oldest first (those still waiting for your answer are not listed).", "최근 30일간의 전환 내역입니다. 오래된 순이며, 응답을 기다리는 전환은 포함되지 않습니다.";
    portal_reference: "Reference", "참조번호";
    portal_next_page: "Next page", "다음 페이지";
    // P2P transfers and money requests (member/transfers.rs).
    p2p_send: "Send", "보내기";
    p2p_send_title: "Send MVP", "MVP 보내기";
    p2p_phone: "Recipient's mobile phone number", "받는 분 휴대폰 번호";
    p2p_amount: "Amount to send (MVP)", "보낼 금액 (MVP)";
    p2p_memo: "Memo (optional, up to 100 characters)", "메모 (선택, 100자 이내)";
    p2p_memo_label: "Memo", "메모";
    p2p_next: "Next", "다음";
    p2p_confirm_title: "Check before sending", "보내기 전에 확인하세요";
    p2p_to: "To", "받는 분";
    p2p_from: "From", "보낸 분";
    p2p_not_member: "Not a member yet: the money waits 7 days for them to join, then comes back.", "아직 회원이 아닙니다. 7일 안에 가입하면 전달되고, 가입하지 않으면 돌아옵니다.";
    p2p_change: "Change", "수정하기";
    p2p_amount_invalid: "Enter a whole number of MVP, at least 1.", "1 이상의 MVP를 정수로 입력하세요.";
    p2p_sent_notice: "Sent.", "보냈습니다.";
    p2p_transfer: "Transfer", "송금";
    p2p_transfers: "My transfers", "송금 내역";
    p2p_sent: "Sent", "보냄";
    p2p_received: "Received", "받음";
    p2p_someone_new: "not a member yet", "미가입자";
    p2p_returns_at: "Comes back on", "반환 예정";
    p2p_finished_at: "Finished", "완료 일시";
    p2p_status_completed: "Completed", "완료";
    p2p_status_held: "Waiting for them to join", "가입 대기 중";
    p2p_status_claimed: "Delivered when they joined", "가입 후 전달됨";
    p2p_status_returned: "Came back: they did not join in time", "반환됨: 기한 내 가입하지 않음";
    p2p_request: "Request MVP", "MVP 요청하기";
    p2p_request_amount: "Amount to ask for (MVP)", "요청 금액 (MVP)";
    p2p_request_submit: "Make the request", "요청 만들기";
    p2p_request_explain: "You get a link to share; a member who opens it pays exactly this amount. It stays open 7 days.", "공유할 링크가 만들어집니다. 링크를 연 회원이 이 금액을 그대로 보냅니다. 7일 동안 유효합니다.";
    p2p_request_made: "Request made. Share its link: a member who opens it can pay it.", "요청을 만들었습니다. 링크를 공유하면 링크를 연 회원이 보낼 수 있습니다.";
    p2p_money_request: "Money request", "송금 요청";
    p2p_asked_by: "Asked by", "요청한 분";
    p2p_yours: "This is your request.", "내가 만든 요청입니다.";
    p2p_link: "Link to share", "공유할 링크";
    p2p_copy_hint: "Copy this link and send it to a friend who is a member:", "이 링크를 복사해 회원인 친구에게 보내세요:";
    p2p_link_qr: "QR code of the link", "링크 QR 코드";
    p2p_open_until: "open until", "결제 기한";
    p2p_pay: "Pay", "보내기";
    p2p_cancel_request: "Cancel the request", "요청 취소";
    p2p_cancelled_notice: "Request cancelled.", "요청을 취소했습니다.";
    p2p_request_open: "Open", "결제 대기";
    p2p_request_paid: "Paid", "결제 완료";
    p2p_request_cancelled: "Cancelled", "취소됨";
    p2p_request_expired: "Expired", "기한 만료";
    p2p_see_transfer: "See the transfer", "송금 보기";
    // Several assets: balances, conversions at a quote (member/assets.rs) and the console's
    // prices and treasury deposits (console/prices.rs).
    asset_convert: "Convert", "자산 전환";
    asset_convert_title: "Convert between assets", "자산 전환";
    asset_other_balances: "Other assets", "다른 자산";
    asset_from: "Asset you give", "내는 자산";
    asset_to: "Asset you get", "받는 자산";
    asset_amount: "Amount you give, in whole units", "내는 수량 (1단위 기준)";
    asset_amount_hint: "Decimals up to the asset's places: MVP 0, TTC 4, BTC 8, ETH 9, USDT 6.", "자산의 소수 자릿수까지 입력할 수 있습니다: MVP 0, TTC 4, BTC 8, ETH 9, USDT 6.";
    asset_amount_invalid: "Enter an amount above zero, with no more decimal places than the asset has", "0보다 큰 수량을 자산의 소수 자릿수 이내로 입력하세요";
    asset_unknown: "Choose an asset of the list.", "목록에서 자산을 고르세요.";
    asset_get_quote: "Get a quote", "견적 받기";
    asset_new_quote: "Get a new quote", "새 견적 받기";
    asset_prices: "Prices", "시세";
    asset_asset: "Asset", "자산";
    asset_krw_per_unit: "KRW per unit", "1단위당 원";
    asset_source: "Source", "출처";
    asset_source_fixed: "fixed", "고정";
    asset_source_operator: "set by the operator", "운영자 설정";
    asset_source_feed: "market feed", "시장 시세";
    asset_quote_title: "Your quote", "전환 견적";
    asset_leaves: "Leaves your wallet", "나가는 자산";
    asset_arrives: "Arrives in your wallet", "들어오는 자산";
    asset_price_krw: "price (KRW per unit)", "시세 (1단위당 원)";
    asset_spread: "Spread kept by the platform", "플랫폼 스프레드";
    asset_valid_until: "Valid until", "유효 기한";
    asset_valid_for: "valid for", "남은 시간";
    asset_quote_explain: "The prices hold until the quote expires; after that, ask for a new quote.", "견적이 만료될 때까지 시세가 고정됩니다. 만료되면 새 견적을 받으세요.";
    asset_convert_submit: "Convert", "전환하기";
    asset_converted_title: "Converted", "전환 완료";
    asset_converted_notice: "Converted.", "전환되었습니다.";
    asset_gave: "You gave", "낸 자산";
    asset_got: "You got", "받은 자산";
    asset_new_balances: "Your balances now", "현재 잔액";
    asset_convert_again: "Convert again", "다시 전환";
    asset_no_price: "no price yet", "시세 없음";
    asset_new_price: "new price (KRW per unit)", "새 시세 (1단위당 원)";
    asset_set_price: "Set the price", "시세 설정";
    asset_price_set: "Price set.", "시세를 설정했습니다.";
    asset_deposit_title: "Record a treasury deposit", "재무 계정 입고 기록";
    asset_deposit_explain: "Coins deposited at the custodian, recorded once per reference.", "수탁사에 입고된 코인을 참조번호마다 한 번 기록합니다.";
    asset_deposit_amount: "Amount, in the asset's smallest unit", "수량 (자산의 최소 단위)";
    asset_deposit_reference: "Custodian's reference", "수탁사 참조번호";
    asset_deposit_submit: "Record the deposit", "입고 기록";
    asset_deposited: "Deposit recorded.", "입고를 기록했습니다.";
    asset_deposit_amount_invalid: "Enter a whole number of the smallest unit, at least 1.", "최소 단위 기준 1 이상의 정수를 입력하세요.";
    // Checkout (the member's page of a shop's payment intent), the demo shop, the till's
    // QR payment.
    checkout_title: "Pay a shop", "가맹점 결제";
    checkout_pay_before: "pay before", "결제 기한";
    checkout_pin_explain: "Enter your PIN to approve this payment (asked for larger amounts).", "결제를 승인하려면 비밀번호를 입력하세요 (큰 금액에서 필요합니다).";
    checkout_pay: "Pay", "결제하기";
    checkout_status_requires_approval: "Waiting for your approval", "승인 대기";
    checkout_status_requires_capture: "Approved, the shop confirms it next", "승인됨, 가맹점 확정 대기";
    checkout_status_succeeded: "Paid", "결제 완료";
    checkout_status_expired: "Expired", "만료됨";
    checkout_status_canceled: "Canceled by the shop", "가맹점이 취소함";
    checkout_paid_notice: "Paid.", "결제했습니다.";
    checkout_approval_no: "Approval number", "승인번호";
    checkout_back_to_shop: "Back to the shop", "가맹점으로 돌아가기";
    checkout_declined_balance: "Not enough MVP for this payment.", "이 결제에 필요한 MVP가 부족합니다.";
    shop_title: "TongTong Demo Shop", "통통 데모 숍";
    shop_explain: "A pretend shop of the demo: buying takes you to Mileverse to pay with MVP.", "데모용 가상 상점입니다. 구매하면 Mileverse로 이동해 MVP로 결제합니다.";
    shop_buy: "Buy", "구매";
    shop_coffee_beans: "Coffee beans, 500 g", "원두 500g";
    shop_mug: "Mug", "머그컵";
    shop_tumbler: "Tumbler", "텀블러";
    shop_order: "Your order", "주문 내역";
    shop_order_id: "Order number", "주문번호";
    shop_paid: "Paid, thank you!", "결제가 완료되었습니다. 감사합니다!";
    shop_not_paid: "Not paid yet.", "아직 결제되지 않았습니다.";
    shop_pay_now: "Pay now", "지금 결제";
    shop_again: "Keep shopping", "계속 쇼핑하기";
    till_qr_title: "QR payment", "QR 결제";
    till_qr_explain: "The customer scans the code and approves the payment in the Mileverse app.", "고객이 코드를 스캔해 Mileverse 앱에서 결제를 승인합니다.";
    till_qr_amount: "Amount to charge by QR, in MVP", "QR로 받을 금액 (MVP)";
    till_qr_show: "Show a QR code", "QR 코드 표시";
    till_qr_image: "QR code of the payment", "결제 QR 코드";
    till_qr_link: "Pay link", "결제 링크";
    till_qr_waiting: "Waiting for the customer", "고객 승인 대기 중";
    // Escrowed trades (the member's `/app/trades` and a trade's page, the console's
    // disputes).
    trade_trades: "Trades", "거래";
    trade_title: "Escrowed trades", "에스크로 거래";
    trade_one: "Trade", "거래";
    trade_offer_title: "Offer coins for a price", "코인 판매 등록";
    trade_offer_explain: "The coins are locked in escrow at once; they move to the buyer only together with the price.", "코인은 바로 에스크로에 묶이고, 대금과 함께만 구매자에게 이동합니다.";
    trade_asset: "Asset you sell", "판매할 자산";
    trade_amount: "Amount you sell, in whole units", "판매 수량 (1단위 기준)";
    trade_price_asset: "Asset of the price", "대금 자산";
    trade_price: "Price", "가격";
    trade_settlement: "Payment", "결제 방식";
    trade_on_platform: "On the platform (held in escrow)", "플랫폼 안에서 (에스크로 보관)";
    trade_off_platform: "Outside the platform (the seller confirms it arrived)", "플랫폼 밖에서 (판매자가 입금 확인)";
    trade_offer_submit: "Offer", "판매 등록";
    trade_open_offers: "Open offers", "판매 중인 거래";
    trade_mine: "My trades", "내 거래";
    trade_none: "No trades yet.", "거래가 없습니다.";
    trade_goods: "For sale", "판매 품목";
    trade_your_side: "Your side", "내 역할";
    trade_role_seller: "Seller", "판매자";
    trade_role_buyer: "Buyer", "구매자";
    trade_deadline: "Deadline", "기한";
    trade_status_open: "Open", "판매 중";
    trade_status_taken: "Taken, waiting for the confirmation", "거래 중, 확인 대기";
    trade_status_completed: "Completed", "완료";
    trade_status_cancelled: "Cancelled", "취소됨";
    trade_status_expired: "Expired", "기한 만료";
    trade_status_disputed: "Disputed, an operator decides", "분쟁 중, 운영자 판단 대기";
    trade_status_released: "Released to the buyer", "구매자에게 지급됨";
    trade_status_refunded: "Refunded", "환불됨";
    trade_take: "Take this offer", "이 거래 수락";
    trade_take_explain: "The price is locked in escrow from your wallet until you confirm.", "확인할 때까지 대금이 지갑에서 에스크로에 묶입니다.";
    trade_take_off_explain: "You pay the seller outside the platform; the seller then confirms it arrived.", "판매자에게 플랫폼 밖에서 대금을 보내면 판매자가 입금을 확인합니다.";
    trade_confirm: "Confirm and complete", "확인하고 완료";
    trade_confirm_explain: "Both legs move at once: the coins to you, the price to the seller.", "양쪽이 한 번에 이동합니다: 코인은 나에게, 대금은 판매자에게.";
    trade_confirm_off_explain: "Confirm only once the payment arrived: the coins then go to the buyer.", "대금이 입금된 뒤에만 확인하세요. 확인하면 코인이 구매자에게 갑니다.";
    trade_cancel: "Cancel the offer", "판매 취소";
    trade_dispute: "Dispute", "분쟁";
    trade_open_dispute: "Open a dispute", "분쟁 신청";
    trade_dispute_text: "What went wrong", "문제 내용";
    trade_evidence: "Evidence", "증빙";
    trade_evidence_optional: "Evidence (optional: a bank reference, a link)", "증빙 (선택: 이체 참조번호, 링크)";
    trade_opened_by: "Opened by", "신청자";
    trade_resolution: "Decision", "결정";
    trade_offered_notice: "Offered: your coins are in escrow.", "판매를 등록했습니다. 코인이 에스크로에 보관됩니다.";
    trade_taken_notice: "Taken.", "거래를 수락했습니다.";
    trade_completed_notice: "Completed: both legs moved.", "거래가 완료되어 양쪽이 이동했습니다.";
    trade_cancelled_notice: "Offer cancelled: your coins are back.", "판매를 취소했습니다. 코인이 돌아왔습니다.";
    trade_disputed_notice: "Dispute opened: an operator will decide.", "분쟁을 신청했습니다. 운영자가 결정합니다.";
    disputes_section: "Disputes", "분쟁";
    disputes_none: "No disputes waiting.", "대기 중인 분쟁이 없습니다.";
    disputes_parties: "Seller and buyer", "판매자와 구매자";
    disputes_note: "Note (kept in the audit log)", "메모 (감사 로그에 보관)";
    disputes_release: "Release", "지급";
    disputes_refund: "Refund", "환불";
    disputes_resolved: "Dispute resolved.", "분쟁을 처리했습니다.";
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
