"""Who and what the demo holds: organisations, demo accounts, car models and landmark sites."""
from typing import Any

DEMO_PASSWORD = "Chongqing-demo-2026"

# slug, name_zh, name_en, kind
ORGANISATIONS = [
    ("state-grid-cq", "国网重庆电动汽车服务", "State Grid Chongqing EV Service", "site_operator"),
    ("teld-cq", "特来电重庆", "TELD Chongqing", "site_operator"),
    ("evogo-cq", "时代电服重庆", "CATL EVOGO Chongqing", "site_operator"),
    ("nio-power-cq", "蔚来能源重庆", "NIO Power Chongqing", "site_operator"),
    ("sinopec-h2-cq", "中国石化重庆氢能", "Sinopec Chongqing Hydrogen", "site_operator"),
    ("changan-retail", "长安汽车直营", "Changan Automobile Retail", "site_operator"),
    ("seres-retail", "赛力斯汽车用户中心", "Seres User Centres", "site_operator"),
    ("caeri-ivista", "中国汽研 i-VISTA", "CAERI i-VISTA", "site_operator"),
    ("cq-expo", "重庆国际博览中心", "Chongqing International Expo Centre", "site_operator"),
    ("cq-smart-parking", "重庆智慧停车", "Chongqing Smart Parking", "site_operator"),
    ("liangjiang-robotaxi", "两江自动驾驶出行", "Liangjiang Robotaxi", "operator"),
    ("cq-motorsport", "重庆赛车文化传媒", "Chongqing Motorsport Culture", "organiser"),
]

# email, name, roles, organisation slug
ACCOUNTS = [
    ("citizen@demo.cq", "王小渝", ("citizen",), None),
    ("operator@demo.cq", "李调度", ("citizen", "operator"), "liangjiang-robotaxi"),
    ("organiser@demo.cq", "张赛事", ("citizen", "organiser"), "cq-motorsport"),
    ("site@demo.cq", "陈站长", ("citizen", "site_operator"), "state-grid-cq"),
    ("admin@demo.cq", "平台管理员", ("citizen", "admin"), None),
]

# code, name_zh, name_en, maker, powertrain, range_km, autonomy_level
CAR_MODELS = [
    ("deepal-sl03", "深蓝 SL03", "Deepal SL03", "Changan", "BEV", 705, "L2"),
    ("deepal-s7", "深蓝 S7", "Deepal S7", "Changan", "EREV", 1120, "L2"),
    ("avatr-11", "阿维塔 11", "Avatr 11", "Avatr", "BEV", 730, "L2+"),
    ("avatr-12", "阿维塔 12", "Avatr 12", "Avatr", "BEV", 700, "L2+"),
    ("aito-m7", "问界 M7", "AITO M7", "Seres", "EREV", 1300, "L2+"),
    ("aito-m9", "问界 M9", "AITO M9", "Seres", "EREV", 1362, "L2+"),
    ("qiyuan-a07", "长安启源 A07", "Changan Qiyuan A07", "Changan", "PHEV", 1100, "L2"),
    ("changan-uni-k-idd", "长安 UNI-K iDD", "Changan UNI-K iDD", "Changan", "PHEV", 1100, "L2"),
    ("deepal-h2", "深蓝 SL03 氢电版", "Deepal SL03 Hydrogen", "Changan", "FCEV", 730, "L2"),
    ("apollo-rt6", "萝卜快跑 RT6", "Apollo RT6", "Baidu Apollo", "BEV", 650, "L4"),
]

# Landmarks placed exactly: (kind, organisation, district, name_zh, name_en, lat, lon, offer)
LANDMARKS = [
    ("venue", "cq-expo", "liangjiang", "重庆国际博览中心", "Chongqing International Expo Centre",
     29.7195, 106.5665, "venue_parking"),
    ("venue", "cq-motorsport", "liangjiang", "龙兴国际赛车场", "Longxing International Circuit",
     29.7440, 106.8050, "track_day"),
    ("venue", "cq-motorsport", "yongchuan", "永川汽车文化公园", "Yongchuan Car Culture Park",
     29.3860, 105.9380, "track_day"),
    ("venue", "cq-expo", "nanan", "南岸国际会展中心", "Nan'an International Convention Centre",
     29.5030, 106.6300, "venue_parking"),
    ("proving_ground", "caeri-ivista", "liangjiang", "i-VISTA 智能网联汽车试验场",
     "i-VISTA Connected Vehicle Proving Ground", 29.6800, 106.5480, "proving_session"),
    ("proving_ground", "caeri-ivista", "yongchuan", "永川智能网联汽车测试基地",
     "Yongchuan Intelligent Vehicle Test Base", 29.3250, 105.8750, "proving_session"),
    ("proving_ground", "caeri-ivista", "banan", "巴南汽车综合试验场", "Ba'nan Vehicle Proving Ground",
     29.3400, 106.6600, "proving_session"),
]

# Hydrogen stations follow the Chengdu-Chongqing corridor west out of the main city.
HYDROGEN_STOPS = [
    ("jiulongpo", "重庆西站"), ("jiulongpo", "含谷"), ("shapingba", "西永"), ("shapingba", "大学城"),
    ("shapingba", "陈家桥"), ("yongchuan", "永川高新区"), ("yongchuan", "凤凰湖"), ("yongchuan", "永川城区"),
]

# How many generated sites each district gets, and the mix of kinds they cycle through.
SITES_PER_DISTRICT = {
    "yuzhong": 20, "jiangbei": 24, "nanan": 22, "shapingba": 22, "jiulongpo": 24, "dadukou": 12,
    "beibei": 14, "yubei": 24, "banan": 16, "liangjiang": 22, "yongchuan": 16,
}
KIND_CYCLE = ["charging_station", "parking_garage", "charging_station", "dealer", "swap_station",
              "charging_station", "parking_garage", "charging_station", "dealer"]

OPERATOR_OF_KIND = {
    "charging_station": ("state-grid-cq", "teld-cq"),
    "swap_station": ("evogo-cq", "nio-power-cq"),
    "hydrogen_station": ("sinopec-h2-cq",),
    "dealer": ("changan-retail", "seres-retail"),
    "parking_garage": ("cq-smart-parking",),
}

SITE_LABEL = {
    "charging_station": ("超充站", "Supercharging Station"),
    "swap_station": ("换电站", "Battery Swap Station"),
    "hydrogen_station": ("加氢站", "Hydrogen Station"),
    "dealer": ("体验中心", "Experience Centre"),
    "parking_garage": ("智慧停车库", "Smart Parking Garage"),
}

# Citizens whose purchases and queueing fill the demo season's sales and its waiting list.
FANS = [
    ("fan.liu@demo.cq", "刘星"), ("fan.chen@demo.cq", "陈嘉怡"), ("fan.zhou@demo.cq", "周航"),
    ("fan.he@demo.cq", "何雨桐"), ("fan.tang@demo.cq", "唐子墨"), ("fan.luo@demo.cq", "罗一鸣"),
]

# The season the organiser demo account sells. Each event: category, titles, venue (name_en of a
# landmark), days after the seed day, local start hour, hours long, refund cut-off in hours,
# descriptions and tiers (name_zh, name_en, price in fen, quota, seats already sold). A tier
# whose sold equals its quota is sold out; `waiting` fans queue for the first such tier.
EVENTS: list[dict[str, Any]] = [
    {"category": "auto_show", "title_zh": "2027 重庆国际汽车展览会", "title_en": "Chongqing Auto Show 2027",
     "venue": "Chongqing International Expo Centre", "days": 12, "hour": 9, "hours": 9, "refund_hours": 48,
     "description_zh": "悦来国际博览中心八大展馆，智能网联新能源车型首发与试乘。",
     "description_en": "Eight halls at the Yuelai expo centre: new intelligent connected EVs, "
                       "launches and ride-alongs.",
     "tiers": [("普通票", "General admission", 8000, 600, 412),
               ("专业观众日", "Trade day", 20000, 120, 117),
               ("新车首发夜", "Launch night", 58000, 40, 40)],
     "waiting": 3},
    {"category": "motorsport", "title_zh": "龙兴赛车周末：中国耐力赛重庆站",
     "title_en": "Longxing Race Weekend: China Endurance Championship",
     "venue": "Longxing International Circuit", "days": 19, "hour": 10, "hours": 8, "refund_hours": 72,
     "description_zh": "两天耐力赛，维修区漫步与赛道出租车体验。",
     "description_en": "Two days of endurance racing with a pit-lane walk and circuit taxi laps.",
     "tiers": [("看台票", "Grandstand", 18000, 800, 356),
               ("维修区通行证", "Paddock pass", 68000, 60, 57),
               ("赛道出租车", "Circuit taxi ride", 128000, 24, 9)]},
    {"category": "av_challenge", "title_zh": "i-VISTA 自动驾驶挑战赛",
     "title_en": "i-VISTA Autonomous Driving Challenge",
     "venue": "i-VISTA Connected Vehicle Proving Ground", "days": 26, "hour": 9, "hours": 7,
     "refund_hours": 24,
     "description_zh": "高校与企业车队在真实道路场景中比拼 L4 自动驾驶。",
     "description_en": "University and industry teams race L4 autonomy through real road scenarios.",
     "tiers": [("观赛票", "Spectator", 3000, 300, 88),
               ("技术开放日", "Engineering open day", 9900, 80, 74)]},
    {"category": "culture", "title_zh": "山城车友夜：南岸江边改装车聚",
     "title_en": "Mountain City Car Night: Nan'an Riverside Meet",
     "venue": "Nan'an International Convention Centre", "days": 5, "hour": 19, "hours": 4,
     "refund_hours": 12,
     "description_zh": "改装车、经典车与电动车的夜间聚会，江边灯光秀。",
     "description_en": "Modified, classic and electric cars after dark, with the riverside light show.",
     "tiers": [("入场", "Entry", 0, 200, 143), ("展车位", "Show car spot", 15000, 30, 28)]},
    {"category": "culture", "title_zh": "永川汽车文化之夜", "title_en": "Yongchuan Car Culture Night",
     "venue": "Yongchuan Car Culture Park", "days": 33, "hour": 18, "hours": 5, "refund_hours": 24,
     "description_zh": "露天影院、漂移表演与本地美食。",
     "description_en": "Open-air cinema, drift shows and local food.",
     "tiers": [("入场", "Entry", 5000, 400, 61), ("漂移副驾", "Drift passenger ride", 30000, 20, 18)]},
]
