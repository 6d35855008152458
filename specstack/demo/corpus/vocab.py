"""Word lists of the demo marketplace: categories, products with attributes, colours, cities, names.

Noun phrases carry their grammatical gender (see `ru.GENDERS`) and accusative form so that templates can
agree adjectives and past-tense verbs with them instead of hoping.
"""

from __future__ import annotations

from dataclasses import dataclass

from specstack.demo.corpus import ru

ELECTRONICS = "Электроника"
APPLIANCES = "Бытовая техника"
CLOTHES = "Одежда и обувь"
KIDS = "Детские товары"
FURNITURE = "Мебель и интерьер"
SPORT = "Спорт и отдых"
HOBBY = "Хобби и музыка"
HOME = "Дом и дача"
AUTO = "Автотовары"
PETS = "Товары для животных"

CATEGORIES: tuple[str, ...] = (
    ELECTRONICS,
    APPLIANCES,
    CLOTHES,
    KIDS,
    FURNITURE,
    SPORT,
    HOBBY,
    HOME,
    AUTO,
    PETS,
)
CATEGORY_EN: dict[str, str] = {
    ELECTRONICS: "Electronics",
    APPLIANCES: "Home appliances",
    CLOTHES: "Clothing and shoes",
    KIDS: "Kids",
    FURNITURE: "Furniture",
    SPORT: "Sports and outdoors",
    HOBBY: "Hobbies and music",
    HOME: "Home and garden",
    AUTO: "Car accessories",
    PETS: "Pet supplies",
}


@dataclass(frozen=True)
class Product:
    """A kind of item people sell: 'смартфон' with its models, attributes, price and weight ranges."""

    nom: str
    acc: str
    gender: str
    category: str
    en: str
    models: tuple[str, ...]
    attrs: tuple[tuple[str, tuple[str, ...]], ...]
    price: tuple[int, int]
    grams: tuple[int, int]
    colored: bool = True


def _p(
    nom: str,
    acc: str,
    gender: str,
    category: str,
    en: str,
    models: str,
    attrs: dict[str, str],
    price: tuple[int, int],
    grams: tuple[int, int],
    colored: bool = True,
) -> Product:
    """Build a Product from compact strings: models and attribute values are '|'-separated."""
    return Product(
        nom=nom,
        acc=acc,
        gender=gender,
        category=category,
        en=en,
        models=tuple(models.split("|")),
        attrs=tuple((label, tuple(values.split("|"))) for label, values in attrs.items()),
        price=price,
        grams=grams,
        colored=colored,
    )


PRODUCTS: tuple[Product, ...] = (
    # Электроника
    _p("смартфон", "смартфон", "m", ELECTRONICS, "smartphone",
       "Samsung Galaxy S21|Samsung Galaxy A54|Xiaomi Redmi Note 12|Apple iPhone 12|Apple iPhone 13|Honor 90|"
       "Realme 11 Pro|Google Pixel 7",
       {"Память": "64 ГБ|128 ГБ|256 ГБ", "Аккумулятор": "ёмкость 100%|ёмкость 91%|ёмкость 86%|заменён в сервисе"},
       (6000, 70000), (300, 600)),
    _p("ноутбук", "ноутбук", "m", ELECTRONICS, "laptop",
       "Lenovo IdeaPad 5|ASUS VivoBook 15|HP Pavilion 14|Acer Aspire 7|Huawei MateBook D 16|MSI Modern 15",
       {"Процессор": "Intel Core i5|Intel Core i7|AMD Ryzen 5|AMD Ryzen 7",
        "Оперативная память": "8 ГБ|16 ГБ|32 ГБ", "Накопитель": "SSD 256 ГБ|SSD 512 ГБ|SSD 1 ТБ"},
       (20000, 110000), (2000, 3500)),
    _p("планшет", "планшет", "m", ELECTRONICS, "tablet",
       "Apple iPad 9|Samsung Galaxy Tab S7|Xiaomi Pad 6|Lenovo Tab P11|Huawei MatePad 11",
       {"Память": "64 ГБ|128 ГБ|256 ГБ", "Связь": "только Wi-Fi|Wi-Fi и LTE"},
       (9000, 60000), (700, 1300)),
    _p("наушники", "наушники", "p", ELECTRONICS, "headphones",
       "Sony WH-1000XM4|Apple AirPods Pro|JBL Tune 510BT|Marshall Major IV|Sennheiser HD 450BT|"
       "Huawei FreeBuds 5i",
       {"Подключение": "Bluetooth|Bluetooth и провод 3,5 мм", "Шумоподавление": "активное|пассивное|нет"},
       (2000, 30000), (300, 800)),
    _p("телевизор", "телевизор", "m", ELECTRONICS, "TV",
       "Samsung UE50AU7100|LG 55UQ75006LF|Xiaomi Mi TV P1|Sony Bravia KD-55X81J|TCL 50P615|Haier S1",
       {"Диагональ": "43 дюйма|50 дюймов|55 дюймов|65 дюймов", "Разрешение": "4K|Full HD",
        "Smart TV": "есть|нет"},
       (12000, 80000), (9000, 22000)),
    _p("умные часы", "умные часы", "p", ELECTRONICS, "smartwatch",
       "Apple Watch Series 7|Samsung Galaxy Watch 5|Huawei Watch GT 3|Amazfit GTR 4|Garmin Forerunner 255",
       {"Размер корпуса": "41 мм|44 мм|46 мм", "Ремешок": "силиконовый|кожаный|металлический"},
       (4000, 35000), (200, 500)),
    _p("игровая приставка", "игровую приставку", "f", ELECTRONICS, "game console",
       "Sony PlayStation 5|Sony PlayStation 4 Pro|Xbox Series S|Xbox Series X|Nintendo Switch OLED",
       {"Память": "512 ГБ|825 ГБ|1 ТБ", "Геймпады в комплекте": "1 шт.|2 шт."},
       (15000, 55000), (3000, 5500)),
    _p("фотоаппарат", "фотоаппарат", "m", ELECTRONICS, "camera",
       "Canon EOS 250D|Nikon D5600|Sony Alpha 6400|Fujifilm X-T30|Canon EOS R50",
       {"Объектив": "китовый 18-55 мм|15-45 мм|без объектива", "Пробег затвора": "5 тысяч кадров|"
        "12 тысяч кадров|30 тысяч кадров"},
       (25000, 90000), (900, 1800)),
    _p("портативная колонка", "портативную колонку", "f", ELECTRONICS, "portable speaker",
       "JBL Charge 5|JBL Flip 6|Sony SRS-XB33|Marshall Emberton|Яндекс Станция Мини",
       {"Защита от воды": "IP67|нет", "Время работы": "до 10 часов|до 20 часов"},
       (2000, 15000), (500, 1500)),
    _p("электронная книга", "электронную книгу", "f", ELECTRONICS, "e-reader",
       "PocketBook 628|ONYX BOOX Kon-Tiki|Amazon Kindle Paperwhite|PocketBook 740",
       {"Экран": "6 дюймов|7,8 дюйма", "Подсветка": "есть|есть, с регулировкой тона"},
       (5000, 20000), (300, 600)),
    _p("монитор", "монитор", "m", ELECTRONICS, "monitor",
       "Samsung Odyssey G5|LG UltraGear 27GN800|Xiaomi Mi Desktop Monitor|AOC 24G2|Dell P2422H",
       {"Диагональ": "24 дюйма|27 дюймов|32 дюйма", "Частота": "75 Гц|144 Гц|165 Гц"},
       (7000, 35000), (4000, 8000)),
    _p("роутер", "роутер", "m", ELECTRONICS, "Wi-Fi router",
       "Keenetic Giga|TP-Link Archer C6|Xiaomi Mi Router AX3000|ASUS RT-AX55",
       {"Стандарт": "Wi-Fi 5|Wi-Fi 6", "Порты": "4 гигабитных порта|3 гигабитных порта"},
       (1500, 9000), (500, 1200)),
    # Бытовая техника
    _p("кофемашина", "кофемашину", "f", APPLIANCES, "coffee machine",
       "DeLonghi Magnifica S|Philips EP2231|Krups EA8108|Saeco Lirika|Jura E8",
       {"Капучинатор": "автоматический|ручной|нет", "Объём резервуара": "1,5 л|1,8 л"},
       (12000, 70000), (8000, 11000)),
    _p("пылесос", "пылесос", "m", APPLIANCES, "vacuum cleaner",
       "Dyson V11|Samsung VS20R9042T2|Bosch BGS05A220|Tefal X-Force 9.60|Xiaomi Vacuum Cleaner G10",
       {"Тип": "вертикальный|с контейнером|с мешком", "Мощность всасывания": "150 Вт|185 Вт|220 Вт"},
       (4000, 45000), (3000, 7000)),
    _p("робот-пылесос", "робот-пылесос", "m", APPLIANCES, "robot vacuum",
       "Xiaomi Robot Vacuum S10|Roborock S7|iRobot Roomba 698|Dreame D9|Polaris PVCR 1028",
       {"Влажная уборка": "есть|нет", "Время работы": "до 90 минут|до 150 минут"},
       (8000, 45000), (3500, 6000)),
    _p("стиральная машина", "стиральную машину", "f", APPLIANCES, "washing machine",
       "Bosch Serie 4|LG F2J3WS0W|Samsung WW60J42E0HW|Indesit IWSB 5105|Haier HW60-BP10929",
       {"Загрузка": "5 кг|6 кг|7 кг|8 кг", "Отжим": "1000 об/мин|1200 об/мин|1400 об/мин"},
       (9000, 40000), (55000, 70000)),
    _p("холодильник", "холодильник", "m", APPLIANCES, "fridge",
       "Атлант ХМ 4021|Bosch KGV36XW22R|LG GA-B459SQCL|Indesit DS 4180 W|Haier C2F636CWRG",
       {"Высота": "186 см|195 см|200 см", "No Frost": "есть|нет"},
       (10000, 55000), (60000, 80000)),
    _p("микроволновая печь", "микроволновую печь", "f", APPLIANCES, "microwave oven",
       "Samsung ME88SUB|LG MS2042DB|Midea MM720CY6|Panasonic NN-ST34HM",
       {"Объём": "20 л|23 л|25 л", "Гриль": "есть|нет"},
       (2500, 9000), (10000, 14000)),
    _p("мультиварка", "мультиварку", "f", APPLIANCES, "multicooker",
       "Redmond RMC-M800S|Polaris PMC 0517AD|Tefal RK812832|Moulinex MK707832",
       {"Объём чаши": "4 л|5 л", "Количество программ": "16|45|48"},
       (2000, 8000), (3000, 5500)),
    _p("блендер", "блендер", "m", APPLIANCES, "blender",
       "Braun MultiQuick 5|Philips HR3652|Bosch MSM66110|Kitfort KT-1352",
       {"Мощность": "600 Вт|800 Вт|1000 Вт", "Чаша": "стеклянная|пластиковая"},
       (1500, 9000), (1500, 3000)),
    _p("утюг", "утюг", "m", APPLIANCES, "iron",
       "Tefal FV5718|Philips GC4541|Braun TexStyle 7|Polaris PIR 2888AK",
       {"Мощность": "2400 Вт|2600 Вт", "Подошва": "керамическая|металлокерамическая"},
       (1500, 6000), (1500, 2200)),
    _p("фен", "фен", "m", APPLIANCES, "hair dryer",
       "Dyson Supersonic|Philips BHD350|Rowenta CV7920|Braun Satin Hair 7",
       {"Мощность": "1600 Вт|2000 Вт|2300 Вт", "Насадки": "концентратор и диффузор|только концентратор"},
       (1500, 30000), (700, 1300)),
    _p("электрический чайник", "электрический чайник", "m", APPLIANCES, "electric kettle",
       "Bosch TWK 3A011|Xiaomi Mi Electric Kettle|Polaris PWK 1725CGL|Redmond RK-G178",
       {"Объём": "1,5 л|1,7 л", "Корпус": "стеклянный|металлический|пластиковый"},
       (800, 4000), (1000, 1700)),
    # Одежда и обувь
    _p("куртка", "куртку", "f", CLOTHES, "jacket",
       "The North Face Nuptse|Columbia Bugaboo|Uniqlo Ultra Light Down|Finn Flare|Zara",
       {"Размер": "44|46|48|50|52|S|M|L|XL", "Утеплитель": "пух|синтепон|без утеплителя"},
       (1500, 18000), (800, 1600)),
    _p("кроссовки", "кроссовки", "p", CLOTHES, "sneakers",
       "Nike Air Max 90|Adidas Ultraboost 22|New Balance 574|Puma Suede|Asics Gel-Kayano 29|Reebok Classic",
       {"Размер": "37|38|39|40|41|42|43|44", "Материал верха": "кожа|текстиль|замша"},
       (1500, 12000), (900, 1400)),
    _p("пальто", "пальто", "n", CLOTHES, "coat",
       "Zara|Mango|Befree|Massimo Dutti|Lime",
       {"Размер": "42|44|46|48|XS|S|M", "Состав": "шерсть 70%|шерсть 50%|кашемир и шерсть"},
       (2500, 20000), (1200, 2200)),
    _p("платье", "платье", "n", CLOTHES, "dress",
       "Zara|H&M|Love Republic|Mango|12 Storeez",
       {"Размер": "40|42|44|46|XS|S|M", "Длина": "мини|миди|макси"},
       (800, 8000), (300, 700)),
    _p("джинсы", "джинсы", "p", CLOTHES, "jeans",
       "Levi's 501|Levi's 511|Wrangler Texas|Lee Rider|Gloria Jeans",
       {"Размер": "W28 L30|W30 L32|W32 L32|W34 L34", "Посадка": "прямая|зауженная|свободная"},
       (800, 6000), (600, 1000)),
    _p("пуховик", "пуховик", "m", CLOTHES, "down jacket",
       "Uniqlo|Columbia|Finn Flare|Baon|Outventure",
       {"Размер": "46|48|50|52|54|M|L|XL", "Наполнитель": "пух 90/10|пух 80/20|биопух"},
       (3000, 20000), (1200, 2200)),
    _p("зимние сапоги", "зимние сапоги", "p", CLOTHES, "winter boots",
       "Ecco|Rieker|Tervolina|Ralf Ringer|Salamander",
       {"Размер": "36|37|38|39|40|41", "Материал": "натуральная кожа|замша|нубук"},
       (2000, 12000), (1200, 2200)),
    _p("рюкзак", "рюкзак", "m", CLOTHES, "backpack",
       "Xiaomi Urban|Herschel Little America|Fjällräven Kånken|The North Face Borealis|Deuter Giga",
       {"Объём": "20 л|25 л|30 л", "Отделение для ноутбука": "есть|нет"},
       (1000, 8000), (600, 1300)),
    # Детские товары
    _p("детская коляска", "детскую коляску", "f", KIDS, "baby stroller",
       "Cybex Balios S|Anex m/type|Tutis Uno|Happy Baby Umma|Joie Litetrax",
       {"Тип": "2 в 1|3 в 1|прогулочная", "Возраст ребёнка": "с рождения|от 6 месяцев"},
       (5000, 50000), (9000, 16000)),
    _p("автокресло", "автокресло", "n", KIDS, "child car seat",
       "Britax Römer Kidfix|Cybex Solution|Joie Trillo|Chicco Seat Up|Siger Кокон",
       {"Группа": "0+|1|2/3|0+/1", "Крепление": "Isofix|ремни автомобиля"},
       (2500, 25000), (4000, 9000)),
    _p("детский велосипед", "детский велосипед", "m", KIDS, "kids' bike",
       "Stels Pilot 170|Forward Barrio 16|Maxiscoo Cosmo|Novatrack Urban 20",
       {"Диаметр колёс": "12 дюймов|16 дюймов|20 дюймов", "Возраст ребёнка": "3–5 лет|5–8 лет|7–10 лет"},
       (2000, 9000), (6000, 11000)),
    _p("конструктор", "конструктор", "m", KIDS, "building set",
       "LEGO Technic 42115|LEGO City 60337|LEGO Friends 41703|LEGO Star Wars 75313|LEGO Ninjago 71741",
       {"Количество деталей": "462|894|1580|3696", "Инструкция": "есть|есть, немного помята"},
       (1500, 25000), (800, 4000), colored=False),
    _p("детская кроватка", "детскую кроватку", "f", KIDS, "baby cot",
       "IKEA Sundvik|Гандылян Дашенька|Polini Kids Simple|Кроха",
       {"Размер спального места": "120 × 60 см|140 × 70 см", "Маятник": "есть|нет"},
       (2000, 15000), (15000, 26000)),
    _p("стульчик для кормления", "стульчик для кормления", "m", KIDS, "high chair",
       "Chicco Polly|Happy Baby William|Peg-Perego Siesta|IKEA Antilop",
       {"Регулировка высоты": "есть|нет", "Столик": "съёмный|несъёмный"},
       (800, 12000), (3000, 8000)),
    # Мебель и интерьер
    _p("диван", "диван", "m", FURNITURE, "sofa",
       "IKEA Friheten|IKEA Vimle|Hoff Бруно|Askona Moreno|Divan.ru Ливорно",
       {"Механизм": "еврокнижка|аккордеон|дельфин|без механизма", "Обивка": "велюр|рогожка|экокожа"},
       (5000, 60000), (40000, 80000)),
    _p("шкаф-купе", "шкаф-купе", "m", FURNITURE, "wardrobe",
       "Hoff Марвин|IKEA Pax|Лазурит Сити|Шатура Лайт",
       {"Ширина": "120 см|150 см|180 см", "Двери": "зеркальные|глухие|одна зеркальная"},
       (5000, 40000), (60000, 120000)),
    _p("письменный стол", "письменный стол", "m", FURNITURE, "desk",
       "IKEA Micke|IKEA Alex|Hoff Бруклин|Stool Group Loft",
       {"Размер": "120 × 60 см|140 × 70 см|100 × 50 см", "Материал": "ЛДСП|массив сосны|МДФ"},
       (1500, 15000), (15000, 30000)),
    _p("офисное кресло", "офисное кресло", "n", FURNITURE, "office chair",
       "Бюрократ CH-868|Chairman 696|Metta Samurai S-1|IKEA Markus",
       {"Обивка": "сетка|экокожа|ткань", "Подлокотники": "регулируемые|фиксированные"},
       (2000, 20000), (12000, 18000)),
    _p("кровать", "кровать", "f", FURNITURE, "bed",
       "IKEA Malm|Askona Kira|Ormatek Como|Hoff Сканди",
       {"Размер спального места": "140 × 200 см|160 × 200 см|180 × 200 см", "Подъёмный механизм": "есть|нет"},
       (6000, 40000), (40000, 70000)),
    _p("комод", "комод", "m", FURNITURE, "chest of drawers",
       "IKEA Hemnes|IKEA Malm|Hoff Стокгольм|Шатура Эльза",
       {"Количество ящиков": "3|4|6", "Материал": "массив сосны|ЛДСП|МДФ"},
       (2000, 15000), (25000, 45000)),
    # Спорт и отдых
    _p("велосипед", "велосипед", "m", SPORT, "bicycle",
       "Stels Navigator 700|Merida Big.Seven 20|Forward Sporting 27.5|Trek Marlin 5|Giant Talon 3|Format 1413",
       {"Размер рамы": "17 дюймов|19 дюймов|21 дюйм", "Количество скоростей": "21|24|27"},
       (8000, 60000), (14000, 19000)),
    _p("электросамокат", "электросамокат", "m", SPORT, "electric scooter",
       "Xiaomi Electric Scooter 3|Ninebot Max G30|Kugoo S3|Ninebot E25",
       {"Запас хода": "до 30 км|до 45 км|до 65 км", "Максимальная скорость": "25 км/ч|30 км/ч"},
       (12000, 45000), (13000, 20000)),
    _p("беговая дорожка", "беговую дорожку", "f", SPORT, "treadmill",
       "Carbon Fitness T506|Unixfit ST-550|Kingsmith WalkingPad A1|Proxima Vegas",
       {"Максимальная скорость": "6 км/ч|12 км/ч|16 км/ч", "Максимальный вес пользователя": "100 кг|120 кг"},
       (10000, 60000), (30000, 70000)),
    _p("палатка", "палатку", "f", SPORT, "tent",
       "Tramp Lite Wonder|Outventure Teslin|Btrace Point|Naturehike Cloud Up 2",
       {"Количество мест": "2|3|4", "Тамбур": "один|два"},
       (2000, 20000), (2000, 5500)),
    _p("сноуборд", "сноуборд", "m", SPORT, "snowboard",
       "Burton Custom|Nidecker Score|Head Rocka|Jones Mountain Twin",
       {"Ростовка": "148 см|152 см|156 см|160 см", "Крепления": "в комплекте|без креплений"},
       (5000, 35000), (4000, 7500)),
    _p("горные лыжи", "горные лыжи", "p", SPORT, "skis",
       "Rossignol Experience|Atomic Redster|Head Supershape|Fischer RC4|Elan Amphibio",
       {"Длина": "150 см|160 см|170 см", "Крепления": "в комплекте|без креплений"},
       (5000, 40000), (5000, 8500)),
    _p("гантели", "гантели", "p", SPORT, "dumbbells",
       "Starfit|Torneo|Bronze Gym|Kettler",
       {"Вес": "2 × 5 кг|2 × 10 кг|разборные до 20 кг"},
       (1000, 8000), (10000, 40000)),
    # Хобби и музыка
    _p("акустическая гитара", "акустическую гитару", "f", HOBBY, "acoustic guitar",
       "Yamaha F310|Fender CD-60S|Cort AD810|Martinez FAW-702",
       {"Струны": "металлические|нейлоновые", "Чехол": "в комплекте|нет"},
       (4000, 30000), (3000, 5500)),
    _p("синтезатор", "синтезатор", "m", HOBBY, "keyboard synthesizer",
       "Casio CT-S300|Yamaha PSR-E373|Casio CDP-S110|Roland GO:KEYS",
       {"Количество клавиш": "61|76|88", "Блок питания": "в комплекте|нет"},
       (8000, 50000), (4000, 12000)),
    _p("электрогитара", "электрогитару", "f", HOBBY, "electric guitar",
       "Squier Stratocaster|Ibanez GRX40|Epiphone Les Paul Special|Yamaha Pacifica 012",
       {"Звукосниматели": "HSS|SSS|HH", "Комбоусилитель": "в комплекте|нет"},
       (8000, 60000), (4000, 6500)),
    _p("настольная игра", "настольную игру", "f", HOBBY, "board game",
       "«Каркассон»|«Колонизаторы»|«Кодовые имена»|«Билет на поезд»|«Диксит»",
       {"Количество игроков": "2–4|2–5|3–8", "Комплектность": "полная|полная, карточки в протекторах"},
       (800, 4000), (800, 2200), colored=False),
    # Дом и дача
    _p("дрель", "дрель", "f", HOME, "drill",
       "Bosch PSB 500 RE|Makita HP1630|Интерскол ДУ-13/780ЭР|DeWalt DWD024",
       {"Мощность": "500 Вт|710 Вт|780 Вт", "Ударный режим": "есть|нет"},
       (1500, 8000), (2000, 3200)),
    _p("шуруповёрт", "шуруповёрт", "m", HOME, "cordless screwdriver",
       "Makita DF333DWYE|Bosch GSR 120-LI|DeWalt DCD771|Metabo PowerMaxx BS",
       {"Аккумуляторы": "1 шт.|2 шт.", "Напряжение": "12 В|18 В"},
       (2500, 15000), (1500, 3200)),
    _p("газонокосилка", "газонокосилку", "f", HOME, "lawn mower",
       "Bosch Rotak 32|Makita ELM3320|Huter GLM-5.0 S|Champion LM4627",
       {"Двигатель": "электрический|бензиновый", "Ширина скашивания": "32 см|37 см|46 см"},
       (5000, 30000), (10000, 30000)),
    _p("мангал", "мангал", "m", HOME, "barbecue grill",
       "Forester BC-781|Grillver Стандарт|Boyscout 61250|Helios 60",
       {"Толщина стали": "2 мм|3 мм|4 мм", "Конструкция": "разборная|складная|сварная"},
       (1500, 12000), (5000, 20000), colored=False),
    _p("культиватор", "культиватор", "m", HOME, "garden tiller",
       "Huter GMC-6.5|Champion BC5712|Patriot Урал|Caiman Eco Max 50S",
       {"Двигатель": "бензиновый|электрический", "Ширина обработки": "40 см|60 см|85 см"},
       (8000, 45000), (25000, 60000)),
    # Автотовары
    _p("комплект зимних шин", "комплект зимних шин", "m", AUTO, "set of winter tyres",
       "Michelin X-Ice North 4|Nokian Hakkapeliitta 10|Pirelli Ice Zero 2|Continental IceContact 3|"
       "Cordiant Snow Cross 2",
       {"Размер": "195/65 R15|205/55 R16|215/60 R17", "Остаток протектора": "6 мм|7 мм|8 мм"},
       (8000, 45000), (35000, 45000), colored=False),
    _p("видеорегистратор", "видеорегистратор", "m", AUTO, "dash cam",
       "70mai Dash Cam Pro Plus|Xiaomi Mi Dash Cam 1S|Neoline G-Tech X77|Mio MiVue 846",
       {"Разрешение съёмки": "Full HD|2K|4K", "GPS": "есть|нет"},
       (1500, 10000), (300, 700)),
    _p("автомагнитола", "автомагнитолу", "f", AUTO, "car stereo",
       "Pioneer MVH-S120UB|Sony DSX-A410BT|Kenwood KMM-BT206|Alpine UTE-200BT",
       {"Bluetooth": "есть|нет", "Разъём USB": "на передней панели|сзади"},
       (1500, 12000), (1000, 1600)),
    # Товары для животных
    _p("переноска для кошек", "переноску для кошек", "f", PETS, "cat carrier",
       "Trixie Capri|Ferplast Atlas 20|Savic Trotter|Triol",
       {"Размер": "S|M|L", "Дверца": "металлическая|пластиковая"},
       (800, 4000), (1000, 2500)),
    _p("аквариум", "аквариум", "m", PETS, "aquarium",
       "Aquael Leddy|Tetra AquaArt|Juwel Rio|Биодизайн Панорама",
       {"Объём": "60 л|100 л|200 л", "Комплектация": "с фильтром и подсветкой|с тумбой|только аквариум"},
       (2000, 30000), (10000, 60000), colored=False),
    _p("когтеточка", "когтеточку", "f", PETS, "cat scratching post",
       "Trixie Baza|Petshop Домик|Pet Choice|Zooexpress",
       {"Высота": "60 см|90 см|140 см", "Домик": "есть|нет"},
       (500, 6000), (2000, 10000)),
)  # fmt: skip


@dataclass(frozen=True)
class Color:
    """A colour adjective in every form the templates need, plus its English name."""

    m: str
    f: str
    n: str
    p: str
    f_acc: str
    en: str

    def form(self, gender: str, accusative: bool = False) -> str:
        """The form agreeing with a noun of `gender` (inanimate accusative differs only for feminine)."""
        if accusative and gender == "f":
            return self.f_acc
        return {"m": self.m, "f": self.f, "n": self.n, "p": self.p}[gender]


def _color(stem: str, hard: bool, en: str) -> Color:
    """Regular colour adjectives: hard stems (чёрн-ый) and soft ones (син-ий)."""
    if hard:
        return Color(stem + "ый", stem + "ая", stem + "ое", stem + "ые", stem + "ую", en)
    return Color(stem + "ий", stem + "яя", stem + "ее", stem + "ие", stem + "юю", en)


COLORS: tuple[Color, ...] = (
    _color("чёрн", True, "black"),
    _color("бел", True, "white"),
    _color("сер", True, "grey"),
    _color("син", False, "blue"),
    _color("красн", True, "red"),
    _color("зелён", True, "green"),
    _color("бежев", True, "beige"),
    _color("розов", True, "pink"),
    _color("коричнев", True, "brown"),
    Color("голубой", "голубая", "голубое", "голубые", "голубую", "light blue"),
    _color("серебрист", True, "silver"),
    _color("жёлт", True, "yellow"),
    _color("фиолетов", True, "purple"),
    _color("оранжев", True, "orange"),
    _color("бордов", True, "burgundy"),
)


@dataclass(frozen=True)
class Condition:
    """An item condition: the label agreeing with 'состояние' and a describing sentence per gender."""

    key: str
    label: str
    sentence: tuple[str, str, str, str]
    en: str

    def describe(self, gender: str) -> str:
        """The sentence agreeing with a noun of `gender`."""
        return self.sentence["mfnp".index(gender)]


def _same(sentence: str) -> tuple[str, str, str, str]:
    return (sentence, sentence, sentence, sentence)


CONDITIONS: tuple[Condition, ...] = (
    Condition(
        "new",
        "новое",
        (
            "Новый, в заводской упаковке, ни разу не использовался.",
            "Новая, в заводской упаковке, ни разу не использовалась.",
            "Новое, в заводской упаковке, ни разу не использовалось.",
            "Новые, в заводской упаковке, ни разу не использовались.",
        ),
        "brand new, still in the original packaging",
    ),
    Condition(
        "like_new",
        "как новое",
        _same("Пользовались очень бережно, следов использования почти нет."),
        "like new, used only a few times",
    ),
    Condition(
        "excellent",
        "отличное",
        _same("Состояние отличное: без царапин, сколов и потёртостей."),
        "excellent, no scratches or scuffs",
    ),
    Condition(
        "good",
        "хорошее",
        _same("Состояние хорошее, есть небольшие следы использования."),
        "good, with light signs of use",
    ),
    Condition(
        "fair",
        "удовлетворительное",
        _same("Есть заметные следы использования, это учтено в цене."),
        "fair, visible wear that is reflected in the price",
    ),
)

SALE_REASONS: tuple[str, ...] = (
    "переезд в другой город",
    "больше не пользуюсь",
    "купили другую модель",
    "освобождаю место в квартире",
    "подарили вторую такую же вещь",
    "сменились планы",
    "ремонт и обновление интерьера",
    "ребёнок вырос",
)

# carrier -> how to say "send with it"
CARRIERS: dict[str, str] = {
    "СДЭК": "через СДЭК",
    "Почта России": "Почтой России",
    "Boxberry": "через Boxberry",
    "DPD": "через DPD",
    "доставка маркетплейса": "доставкой маркетплейса",
}

MEETING_PLACES: tuple[str, ...] = (
    "в центре города",
    "у железнодорожного вокзала",
    "возле торгового центра",
    "у пункта выдачи заказов рядом с домом",
    "недалеко от остановки «Школа»",
    "у главного входа в городской парк",
    "около станции метро",
    "во дворе дома, рядом с магазином",
)

KITS: dict[str, tuple[str, ...]] = {
    ELECTRONICS: ("коробка, чек и зарядное устройство", "коробка и документы", "только зарядное устройство",
                  "коробка, кабель и чехол"),
    APPLIANCES: ("коробка, инструкция и гарантийный талон", "инструкция", "все насадки и инструкция"),
    CLOTHES: ("бирки и фирменный пакет", "без бирок", "чехол для хранения"),
    KIDS: ("инструкция и все комплектующие", "дождевик и москитная сетка", "оригинальная коробка"),
    FURNITURE: ("инструкция по сборке и фурнитура", "все крепления", "запасные ножки"),
    SPORT: ("чехол и инструкция", "зарядное устройство и инструкция", "сумка для переноски"),
    HOBBY: ("чехол и запасной комплект", "коробка и инструкция", "чехол"),
    HOME: ("кейс и набор насадок", "инструкция и гарантийный талон", "кейс"),
    AUTO: ("коробка и крепление", "все крепления и инструкция", "кабель питания"),
    PETS: ("коробка и инструкция", "съёмная подушка", "инструкция"),
}  # fmt: skip

DEFECTS: dict[str, tuple[str, ...]] = {
    ELECTRONICS: ("небольшая царапина на корпусе", "потёртость на углу", "мелкие царапины сзади"),
    APPLIANCES: ("небольшой скол на корпусе", "потёртость на крышке", "царапина сбоку"),
    CLOTHES: ("небольшая затяжка на рукаве", "немного потёрта подкладка", "нет одной пуговицы"),
    KIDS: ("небольшая потёртость", "мелкая царапина сбоку", "помятая коробка"),
    FURNITURE: ("небольшой скол на углу", "потёртость на подлокотнике", "царапина на столешнице"),
    SPORT: ("царапины на раме", "потёртость на ручке", "небольшой скол краски"),
    HOBBY: ("небольшой скол лака", "потёртость на корпусе", "потёртый уголок коробки"),
    HOME: ("потёртость на корпусе", "следы краски на рукоятке", "царапины на кожухе"),
    AUTO: ("потёртость на корпусе", "царапина на креплении", "небольшой скол на панели"),
    PETS: ("потёртость на ручке", "небольшая царапина", "немного выцвела ткань"),
}  # fmt: skip


@dataclass(frozen=True)
class City:
    """A city in the cases the templates need, with its English name and rough coordinates."""

    nom: str
    loc: str  # в Москве
    gen: str  # из Москвы
    acc: str  # в Москву
    en: str
    lat: float
    lon: float

    @property
    def in_(self) -> str:
        """'в Москве', 'во Владивостоке'."""
        return ru.v(self.loc)

    @property
    def to(self) -> str:
        """'в Москву', 'во Владивосток'."""
        return ru.v(self.acc)


def _c(nom: str, en: str, lat: float, lon: float, loc: str = "", gen: str = "", acc: str = "") -> City:
    """Masculine cities ending in a consonant decline regularly (Омск: в Омске, из Омска, в Омск)."""
    return City(nom, loc or nom + "е", gen or nom + "а", acc or nom, en, lat, lon)


CITIES: tuple[City, ...] = (
    _c("Москва", "Moscow", 55.76, 37.62, "Москве", "Москвы", "Москву"),
    _c("Санкт-Петербург", "Saint Petersburg", 59.94, 30.31),
    _c("Новосибирск", "Novosibirsk", 55.03, 82.92),
    _c("Екатеринбург", "Yekaterinburg", 56.84, 60.61),
    _c("Казань", "Kazan", 55.79, 49.12, "Казани", "Казани", "Казань"),
    _c("Нижний Новгород", "Nizhny Novgorod", 56.33, 44.0, "Нижнем Новгороде", "Нижнего Новгорода"),
    _c("Челябинск", "Chelyabinsk", 55.16, 61.4),
    _c("Самара", "Samara", 53.2, 50.15, "Самаре", "Самары", "Самару"),
    _c("Омск", "Omsk", 54.99, 73.37),
    _c("Ростов-на-Дону", "Rostov-on-Don", 47.23, 39.72, "Ростове-на-Дону", "Ростова-на-Дону"),
    _c("Уфа", "Ufa", 54.74, 55.97, "Уфе", "Уфы", "Уфу"),
    _c("Красноярск", "Krasnoyarsk", 56.01, 92.87),
    _c("Воронеж", "Voronezh", 51.67, 39.18),
    _c("Пермь", "Perm", 58.01, 56.23, "Перми", "Перми", "Пермь"),
    _c("Волгоград", "Volgograd", 48.71, 44.51),
    _c("Краснодар", "Krasnodar", 45.04, 38.98),
    _c("Саратов", "Saratov", 51.53, 46.03),
    _c("Тюмень", "Tyumen", 57.15, 65.53, "Тюмени", "Тюмени", "Тюмень"),
    _c("Ижевск", "Izhevsk", 56.85, 53.2),
    _c("Барнаул", "Barnaul", 53.35, 83.78),
    _c("Иркутск", "Irkutsk", 52.29, 104.28),
    _c("Хабаровск", "Khabarovsk", 48.48, 135.08),
    _c("Ярославль", "Yaroslavl", 57.63, 39.87, "Ярославле", "Ярославля", "Ярославль"),
    _c("Владивосток", "Vladivostok", 43.12, 131.89),
    _c("Томск", "Tomsk", 56.48, 84.95),
    _c("Калининград", "Kaliningrad", 54.71, 20.51),
    _c("Сочи", "Sochi", 43.6, 39.73, "Сочи", "Сочи", "Сочи"),
    _c("Тула", "Tula", 54.19, 37.62, "Туле", "Тулы", "Тулу"),
    _c("Пенза", "Penza", 53.2, 45.0, "Пензе", "Пензы", "Пензу"),
    _c("Мурманск", "Murmansk", 68.97, 33.07),
    _c("Архангельск", "Arkhangelsk", 64.54, 40.54),
    _c("Киров", "Kirov", 58.6, 49.66),
    _c("Оренбург", "Orenburg", 51.77, 55.1),
    _c("Рязань", "Ryazan", 54.63, 39.74, "Рязани", "Рязани", "Рязань"),
    _c("Астрахань", "Astrakhan", 46.35, 48.04, "Астрахани", "Астрахани", "Астрахань"),
    _c("Иваново", "Ivanovo", 57.0, 40.97, "Иванове", "Иванова", "Иваново"),
)
CITY_BY_NAME: dict[str, City] = {c.nom: c for c in CITIES}

MALE_NAMES: tuple[str, ...] = (
    "Александр", "Дмитрий", "Максим", "Сергей", "Андрей", "Алексей", "Артём", "Илья", "Кирилл", "Михаил",
    "Никита", "Матвей", "Роман", "Егор", "Иван", "Павел", "Олег", "Виктор", "Денис", "Тимур", "Руслан",
    "Владимир", "Георгий", "Фёдор", "Евгений", "Степан", "Григорий", "Константин",
)  # fmt: skip
FEMALE_NAMES: tuple[str, ...] = (
    "Анна", "Мария", "Елена", "Дарья", "Алина", "Ирина", "Екатерина", "Полина", "Ольга", "Наталья",
    "Татьяна", "Юлия", "Виктория", "Ксения", "Софья", "Светлана", "Марина", "Вероника", "Алёна",
    "Людмила", "Валерия", "Кристина", "Надежда", "Евгения", "Зарина", "Арина", "Галина",
)  # fmt: skip
EN_NAMES: tuple[str, ...] = (
    "Alex", "Maria", "Daniel", "Sophie", "Ivan", "Olga", "James", "Emma", "Nikita", "Laura", "Peter",
    "Anna", "Tom", "Kate", "Sam", "Irina", "Mark", "Julia", "Leo", "Nina",
)  # fmt: skip


@dataclass(frozen=True)
class Person:
    """A first name with its grammatical gender ('m' or 'f')."""

    name: str
    gender: str
